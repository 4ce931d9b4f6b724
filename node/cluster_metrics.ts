// A cluster node's figures for /metrics: per group it leads, each standby's replication lag (in
// entries written here and not yet acknowledged durable there) and whether commits wait for it,
// the in-sync set's size as the control plane last granted it, this node's role per group, and
// the takeovers it won.

import type { ClusterController } from "./cluster_controller.ts";

export function cluster_metrics_text(controller: ClusterController): string {
  const out: string[] = [];
  out.push("# HELP balance_replication_lag_entries Entries written by this primary and not yet " +
    "acknowledged durable by the standby.", "# TYPE balance_replication_lag_entries gauge");
  for (const figure of controller.replication) {
    const standby = controller.node_id_of(figure.node) ?? String(figure.node);
    out.push(`balance_replication_lag_entries{group="${figure.group}",standby="${standby}"} ` +
      `${figure.lag_entries}`);
  }
  out.push("# HELP balance_replication_counted Whether commits wait for the standby (1) or not.",
    "# TYPE balance_replication_counted gauge");
  for (const figure of controller.replication) {
    const standby = controller.node_id_of(figure.node) ?? String(figure.node);
    out.push(`balance_replication_counted{group="${figure.group}",standby="${standby}"} ` +
      `${figure.counted ? 1 : 0}`);
  }
  out.push("# HELP balance_in_sync_members The group's in-sync set size (the primary included), " +
    "as last granted; 0 where this node does not lead.", "# TYPE balance_in_sync_members gauge");
  out.push("# HELP balance_group_leader Whether this node leads the group (1) or follows it (0).",
    "# TYPE balance_group_leader gauge");
  for (let group = 0; group < controller.leads.length; group++) {
    const role = controller.membership.role(group);
    const size = role.kind === "primary" ? role.in_sync.length : 0;
    out.push(`balance_in_sync_members{group="${group}"} ${size}`);
    out.push(`balance_group_leader{group="${group}"} ${controller.leads[group]}`);
  }
  out.push("# HELP balance_lease_age_seconds Time since the lease of a group led here was last " +
    "granted or renewed (past LEASE_MS only while the control plane is unreachable).",
  "# TYPE balance_lease_age_seconds gauge");
  for (let group = 0; group < controller.leads.length; group++) {
    const age_ms = controller.membership.lease_age_ms(group);
    if (age_ms !== null) {
      out.push(`balance_lease_age_seconds{group="${group}"} ${(age_ms / 1000).toFixed(3)}`);
    }
  }
  out.push("# HELP balance_takeovers_total Groups this node took over from a silent primary.",
    "# TYPE balance_takeovers_total counter", `balance_takeovers_total ${controller.takeovers}`);
  return out.join("\n");
}
