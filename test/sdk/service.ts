// A real service for the SDK's end-to-end tests: HTTP and TCP on free ports, auth on with the
// development key it makes in DATA_DIR, and tokens minted from that key.

import { join } from "node:path";
import { mint_token } from "../../auth/dev_keys.ts";
import { free_port, ServiceProcess } from "../../harness/service_process.ts";

export const ISSUER = "balance-service";
export const AUDIENCE = "balance-service";
const TOKEN_TTL_S = 3_600;

export interface SdkService {
  service: ServiceProcess;
  tcp_port: number;
}

export async function start_service(env: Record<string, string> = {}): Promise<SdkService> {
  const tcp_port = free_port();
  const service = await ServiceProcess.start({ env: { ...env, TCP_PORT: String(tcp_port) } });
  return { service, tcp_port };
}

/** Restarts a killed or stopped service on its data directory, with a fresh TCP port. */
export async function restart_service(old: SdkService): Promise<SdkService> {
  const tcp_port = free_port();
  const service = await old.service.restart({ env: { TCP_PORT: String(tcp_port) } });
  return { service, tcp_port };
}

export async function token_for(service: ServiceProcess, subject: { partner: number } | { internal: true })
  : Promise<string> {
  const minted = await mint_token({ subject, ttl_s: TOKEN_TTL_S, issuer: ISSUER, audience: AUDIENCE,
    keys_file: join(service.data_dir, "auth-keys.json") });
  return minted.token;
}
