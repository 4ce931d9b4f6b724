// Preloaded before the test files (bunfig.toml [test] preload): after the whole run, whatever a
// test left behind goes. `bun test` runs no process "exit" hooks, so without this a service a
// failed test never stopped kept running (one was found an hour later, halving a benchmark) and
// every temporary directory stayed in /tmp.

import { afterAll } from "bun:test";
import { kill_live_services } from "../harness/service_process.ts";
import { remove_temp_dirs } from "../harness/temp_dirs.ts";

afterAll(() => {
  kill_live_services();
  remove_temp_dirs();
});
