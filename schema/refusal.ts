// Why a request was refused before any engine saw it (admission, readiness, shutdown, or no
// durable answer in time, a read of a group this node does not lead): the router decides it, every
// front door answers it (http/replies.ts).

export type Refusal = "busy" | "disk_full" | "not_ready" | "shutting_down" | "timeout" |
  "not_primary";
