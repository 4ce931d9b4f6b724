-- The HTTP JSON load of bench/wrk/debits.lua, in the Go prototype's own API (docs/performance.md,
-- "The Go prototype side by side"): 10 payments per request, each a new order id, on the two
-- partners the prototype keeps in memory ("TEST", "TEST1"). Its answer is "processing" for the
-- whole batch: no per-order result, no journal, no idempotency.
--
--   wrk -t2 -c64 -d10s -s bench/wrk/prototype_payments.lua http://127.0.0.1:8080/balance/request-balance

local ORDERS_PER_REQUEST = 10
local THREAD_ORDER_SPAN = 2 ^ 40 -- two threads' order ids never meet

local threads_started = 0
function setup(thread)
  thread:set("thread_index", threads_started)
  threads_started = threads_started + 1
end

local issued = 0

function init(args)
  math.randomseed(os.time() + thread_index)
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  local orders = {}
  for n = 1, ORDERS_PER_REQUEST do
    issued = issued + 1
    local partner = (math.random(0, 1) == 0) and "TEST" or "TEST1"
    orders[n] = string.format('{"AmountRequest":1,"PartnerCode":"%s","PartnerIdentification":%d,' ..
      '"OrderID":%.0f,"TypeRequest":"payment"}', partner, math.random(1, 99),
      thread_index * THREAD_ORDER_SPAN + issued)
  end
  return wrk.format("POST", nil, nil, "[" .. table.concat(orders, ",") .. "]")
end

function done(summary, latency, requests)
  io.write(string.format("orders/s: %.0f; non-2xx replies: %d; p50 %.2f ms, p99 %.2f ms\n",
    summary.requests / (summary.duration / 1e6) * ORDERS_PER_REQUEST, summary.errors.status,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
