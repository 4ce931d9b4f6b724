// The images' HEALTHCHECK: GET http://127.0.0.1:$PORT/healthz, exit 0 on a 200 and 1 otherwise.
// The official Bun image has neither curl nor wget, so Bun itself makes the request.
//
//   bun docker/healthcheck.ts PORT 8080              (the service)
//   bun docker/healthcheck.ts PROJECTOR_PORT 8070    (the projector)
//
// The first argument names the environment variable holding the port, the second is its default:
// the same default the process itself uses, so the check follows a changed port. Every failure
// exits 1: Docker reserves exit code 2.

/** Below Docker's --timeout, so the check reports its own reason instead of being killed. */
export const HEALTHCHECK_TIMEOUT_MS = 2_000;
export const HEALTHCHECK_PATH = "/healthz";

export type ProbeResult = { healthy: true } | { healthy: false; reason: string };

/** The port to probe: env[port_variable] when set, else the default; null when either is bad. */
export function probe_port(env: Record<string, string | undefined>, port_variable: string,
  port_default: string): number | null {
  const text = env[port_variable] || port_default;
  if (!/^\d{1,5}$/.test(text)) return null;
  const port = Number(text);
  return port >= 1 && port <= 65535 ? port : null;
}

export async function probe(port: number, timeout_ms = HEALTHCHECK_TIMEOUT_MS): Promise<ProbeResult> {
  const url = `http://127.0.0.1:${port}${HEALTHCHECK_PATH}`;
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeout_ms) });
    await response.arrayBuffer();
    if (response.status === 200) return { healthy: true };
    return { healthy: false, reason: `${url} answered ${response.status}` };
  } catch (error) {
    return { healthy: false, reason: `${url}: ${error instanceof Error ? error.message : error}` };
  }
}

async function main(args: string[]): Promise<number> {
  const [port_variable, port_default] = args;
  if (port_variable === undefined || port_default === undefined) {
    console.error("usage: bun docker/healthcheck.ts PORT_VARIABLE DEFAULT_PORT");
    return 1;
  }
  const port = probe_port(process.env, port_variable, port_default);
  if (port === null) {
    console.error(`${port_variable} is not a port 1..65535`);
    return 1;
  }
  const result = await probe(port);
  if (!result.healthy) console.error(`unhealthy: ${result.reason}`);
  return result.healthy ? 0 : 1;
}

if (import.meta.main) process.exit(await main(process.argv.slice(2)));
