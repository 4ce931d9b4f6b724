// Starts one node of the balance service: configuration, recovery, then HTTP. SIGTERM and SIGINT
// drain, snapshot and exit 0.

import { ConfigError, load_config, type Config } from "../config/config.ts";
import { load_cluster_config, type ClusterConfig } from "../cluster/membership/cluster_config.ts";
import { ClusterStartError } from "../node/cluster_controller.ts";
import { start_http_server } from "./http.ts";
import { Metrics } from "../node/metrics.ts";
import { is_state_refusal, ServiceNode } from "../node/service_node.ts";
import { seed_from_file } from "./seed.ts";
import { set_up_auth } from "../auth/setup.ts";
import { start_tcp_server } from "./tcp/tcp_server.ts";
import { single_node_view, type ClusterView } from "../router/leadership.ts";
import { cluster_view } from "../node/cluster_view.ts";
import { front_door_tls_files, TlsWatch } from "../auth/tls.ts";

const EXIT_CODE_CONFIGURATION = 2;
// The data directory is damaged or contradicts itself (synced journal entries damaged, a
// publisher checkpoint past the journal's end): restarting cannot help; an operator must look
// (the message says what to do).
const EXIT_CODE_STATE_REFUSED = 3;
// The control plane refused this node (settings differ, too many nodes) or could not be asked.
const EXIT_CODE_CLUSTER_REFUSED = 4;

async function start_node(config: Config, cluster: ClusterConfig | null): Promise<ServiceNode> {
  try {
    return await ServiceNode.start(config, new Metrics(), cluster);
  } catch (error) {
    if (error instanceof ClusterStartError) {
      console.error(`cluster start-up refused: ${error.message}`);
      process.exit(EXIT_CODE_CLUSTER_REFUSED);
    }
    if (!is_state_refusal(error)) throw error;
    console.error(`start-up refused: ${error.message}`);
    process.exit(EXIT_CODE_STATE_REFUSED);
  }
}

async function main(): Promise<void> {
  let config;
  let auth;
  let cluster;
  let tls_files;
  try {
    config = load_config();
    tls_files = front_door_tls_files(process.env);
    cluster = load_cluster_config(process.env);
    auth = await set_up_auth(process.env, config.data_dir);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`configuration: ${error.message}`);
      process.exit(EXIT_CODE_CONFIGURATION);
    }
    throw error;
  }
  const node = await start_node(config, cluster);
  for (const r of node.recoveries) {
    console.log(`group ${r.group}: snapshot at ${r.snapshot_sequence}, replayed ${r.replayed_events} ` +
      `events to ${r.last_sequence} in ${r.duration_ms.toFixed(1)} ms (epoch ${r.epoch})`);
  }
  if (config.seed_file !== null) await seed_from_file(node, config.seed_file);
  // The map names the servers' own addresses, known once both listen (a port of 0 picks one).
  let view = node.cluster_controller !== null ? cluster_view(node.cluster_controller)
    : single_node_view(`${config.host}:${config.port}`, `${config.host}:${config.tcp.port}`,
      config.groups, config.group_map);
  const front: ClusterView = {
    leads: (group) => view.leads(group),
    routing_map: () => view.routing_map(),
    primary_of: (group) => view.primary_of(group),
  };
  // One watch of the certificate files serves both front doors.
  const tls = tls_files === null ? null : new TlsWatch(tls_files);
  const server = start_http_server(node,
    { host: config.host, port: config.port, auth: auth.authenticator, cluster: front, tls });
  const tcp = start_tcp_server(node, auth.authenticator, front, config.host, config.tcp, tls);
  if (node.cluster_controller === null) {
    view = single_node_view(`${server.hostname}:${server.port}`, `${tcp.hostname}:${tcp.port}`,
      config.groups, config.group_map);
  }
  node.metrics.tcp_connections = () => tcp.connection_count;
  console.log(`balance service ready on ${tls === null ? "http" : "https"}://` +
    `${server.hostname}:${server.port} ` +
    `(${config.groups} groups on ${config.engine_workers} engine workers, data in ${config.data_dir})`);
  console.log(`binary TCP protocol on ${tls === null ? "tcp" : "tls"}://${tcp.hostname}:${tcp.port}`);
  if (cluster !== null) {
    console.log(`cluster node ${cluster.node_id}: replication on ${cluster.replication_address}`);
  }
  for (const line of auth.banner) console.log(line);
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: draining, snapshotting, stopping`);
    await tcp.stop();
    await node.shutdown();
    server.stop(true);
    console.log("stopped cleanly");
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
}

await main();
