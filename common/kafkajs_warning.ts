// kafkajs 2.2.4 arms a timer with a negative delay after every response when it is not throttled
// (src/network/requestQueue/index.js, scheduleCheckPendingRequests: `throttledUntil - Date.now()`
// with throttledUntil = -1), which Bun, like Node 22+, reports as a TimeoutNegativeWarning per
// request; the delay is clamped to 1 ms and nothing else is wrong. This drops that one warning and
// passes every other warning on as before.

let installed = false;

export function silence_kafkajs_timeout_warning(): void {
  if (installed) return;
  installed = true;
  const previous = process.listeners("warning");
  process.removeAllListeners("warning");
  process.on("warning", (warning: Error) => {
    if (warning.name === "TimeoutNegativeWarning") return;
    if (previous.length === 0) {
      console.warn(warning);
      return;
    }
    for (const listener of previous) listener(warning);
  });
}
