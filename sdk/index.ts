// The balance service's TypeScript client: `import { BalanceClient } from "./sdk/index.ts"` in
// this repository, `from "@balance/sdk"` as the npm package (sdk/README.md). docs/sdk.md is its
// guide.

export { BalanceClient, type ClientOptions } from "./client.ts";
export { BalanceError, type ErrorReason } from "./errors.ts";
export { OrderIdGenerator, order_id_time_ms } from "../schema/order_id.ts";
export type {
  BatchOutcome, ReadOutcome, Transport, TransportLimits, WireBatch,
} from "./transport.ts";
export type { TokenSource } from "./wire.ts";
export type { TlsOptions } from "./tls.ts";
export {
  AccountKind, AccountState, ErrorCode, Mode, Op, Status,
  type AccountInfo, type AdminInput, type Amount, type CallOptions, type CaptureInput,
  type HoldInput, type ModeName, type MoneyInput, type OpenAccountInput, type OrderRequest,
  type OrderResult, type ReleaseInput, type SetOverdraftInput, type TransferInput, type U64,
} from "./types.ts";
