// Replication links in mutual TLS (docs/tls.md): with CLUSTER_TLS_* files, a standby's listener
// takes a primary only with a certificate of the cluster's CA, and a primary streams only to a
// standby whose certificate chains to it. Real sockets on 127.0.0.1, certificates made by openssl.

import { afterEach, describe, expect, test } from "bun:test";
import { connect as tls_connect } from "node:tls";
import { TlsWatch } from "../../auth/tls.ts";
import { TestCa, type Pem } from "../server/tls_support.ts";
import { PowerLossFileLayer } from "../../journal/power_loss_file_layer.ts";
import {
  acked, expect_replica, holders_of, open_standby, primary, PRIMARY_NODE, run_cleanups, serve,
  STANDBY_NODE,
} from "./replication_harness.ts";

afterEach(run_cleanups);

const cluster_ca = new TestCa("cluster-ca");
const stranger_ca = new TestCa("stranger-ca");

function watch(pem: Pem, ca: TestCa): TlsWatch {
  const tls = new TlsWatch({ cert_file: pem.cert_file, key_file: pem.key_file,
    ca_file: ca.ca.cert_file, reload_check_ms: 60_000 }, () => {});
  return tls;
}

/** What a TLS client presenting `pem` (or nothing) gets from the listener: bytes, or the error. */
function probe(port: number, pem: Pem | null): Promise<string> {
  return new Promise((done) => {
    const socket = tls_connect({ host: "127.0.0.1", port, ca: cluster_ca.ca.cert,
      ...(pem === null ? {} : { cert: pem.cert, key: pem.key }) });
    let outcome = "closed";
    socket.on("secureConnect", () => {
      outcome = "handshake done";
      socket.write(new Uint8Array(64)); // not a valid hello: only whether it is read matters
    });
    socket.on("data", () => (outcome = "answered"));
    socket.on("error", (error) => (outcome = `error: ${error.message}`));
    socket.on("close", () => done(outcome));
  });
}

describe("replication over mutual TLS", () => {
  test("a primary and its standby with the cluster's certificates replicate everything",
    async () => {
      const holders = holders_of(PRIMARY_NODE, 1);
      const files = new PowerLossFileLayer();
      const standby = open_standby(files);
      const server = serve(STANDBY_NODE, standby, holders, 0, undefined,
        { tls: watch(cluster_ca.issue("node-2"), cluster_ca) });
      const node = primary({ node: PRIMARY_NODE, epoch: 1, seed: 5,
        standbys: [{ node: STANDBY_NODE, host: "127.0.0.1", port: server.port }],
        tls: watch(cluster_ca.issue("node-1"), cluster_ca) });
      node.replicator.start();
      for (let round = 0; round < 5; round++) {
        node.run(8);
        await Bun.sleep(1);
      }
      await acked(node);
      expect(node.last_sequence).toBeGreaterThan(50);
      expect_replica(standby, files, node, "standby over TLS");
    });

  test("a standby refuses a peer without the cluster's certificate before reading a frame",
    async () => {
      const holders = holders_of(PRIMARY_NODE, 1);
      const server = serve(STANDBY_NODE, open_standby(), holders, 0, undefined,
        { tls: watch(cluster_ca.issue("node-2"), cluster_ca) });
      // No certificate at all: the handshake itself fails.
      expect(await probe(server.port, null)).toMatch(/^error|^closed/);
      // A certificate of another CA: closed without an answer.
      expect(await probe(server.port, stranger_ca.issue("intruder"))).not.toBe("answered");
      // The cluster's certificate: the link is read (a bad hello is answered with an error frame).
      expect(await probe(server.port, cluster_ca.issue("node-1"))).toBe("answered");
    });

  test("a primary does not stream to a standby whose certificate is not the cluster's",
    async () => {
      const holders = holders_of(PRIMARY_NODE, 1);
      const files = new PowerLossFileLayer();
      const standby = open_standby(files);
      // The standby's listener presents a certificate of another CA (it trusts the cluster CA).
      const server = serve(STANDBY_NODE, standby, holders, 0, undefined,
        { tls: watch(stranger_ca.issue("impostor"), cluster_ca) });
      const node = primary({ node: PRIMARY_NODE, epoch: 1, seed: 6,
        standbys: [{ node: STANDBY_NODE, host: "127.0.0.1", port: server.port }],
        tls: watch(cluster_ca.issue("node-1"), cluster_ca) });
      node.replicator.start();
      node.run(8);
      await Bun.sleep(500);
      expect(node.last_sequence).toBeGreaterThan(0);
      expect(node.replicator.acked_sequence_min()).toBe(0);
      expect(standby.durable_sequence).toBe(0);
    });
});
