// This thread's CPU time: on the shared development machine another process often runs on our
// core, which inflates wall time but not the CPU time our own work took. Benchmarks report both.

/** This thread's CPU time (user + system) in ns. */
export function thread_cpu_ns(): number {
  const usage = process.threadCpuUsage();
  return (usage.user + usage.system) * 1_000;
}
