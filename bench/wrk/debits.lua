-- The HTTP JSON load of docs/performance.md for wrk (Debian: apt-get install wrk, or
-- scripts/install-wrk.sh without root; `make benchmark` runs it), to check
-- `bun run loadgen -- --transport http --format json --batch 10 --mix debit=1` against:
--
--   bun run loadgen -- --transport http --requests 1 --no-check    # opens the accounts used here
--   TOKEN=$(bun run token -- --internal | tail -1) \
--     wrk -t2 -c64 -d20s -s bench/wrk/debits.lua http://127.0.0.1:8080/v1/batches
--
-- Each request: 10 debits of 1 minor unit, committed (MODE=accepted in wrk's environment:
-- accepted), fresh order ids, on the accounts loadgen opens (partners 1..100, user accounts 1..99
-- of each: id = partner * 2^32 + index). Order ids are the SDK's layout (creation time in ms << 22
-- | counter); the time is os.time() to the second, so each thread counts within the second in its
-- own half of the counter space.

local ORDERS_PER_REQUEST = 10
local PARTNERS = 100
local USER_ACCOUNTS = 99
local COUNTER_SPAN = 2 ^ 22
local THREAD_COUNTER_SPAN = 2 ^ 21 -- two threads' ids never meet
local MODE = os.getenv("MODE") or "committed"
assert(MODE == "committed" or MODE == "accepted", "MODE is committed or accepted")

local threads_started = 0
function setup(thread)
  thread:set("thread_index", threads_started)
  threads_started = threads_started + 1
end

local second, issued = -1, 0

-- The decimal text of hi * 2^32 + lo (doubles hold neither exactly past 2^53): 2^32 = 42949 * 10^5
-- + 67296, so the value is (hi * 42949 + carry) * 10^5 + rest, every part below 2^53.
local function u64_text(hi, lo)
  local low = hi * 67296 + lo
  local high = hi * 42949 + math.floor(low / 100000)
  local rest = low % 100000
  if high > 0 then return string.format("%.0f%05d", high, rest) end
  return string.format("%d", rest)
end

local function order_id()
  local now = os.time()
  if now ~= second then second, issued = now, 0 end
  issued = issued + 1
  assert(issued < THREAD_COUNTER_SPAN, "more ids in a second than a thread's counter span")
  local time_ms = now * 1000
  local counter = thread_index * THREAD_COUNTER_SPAN + issued
  return u64_text(math.floor(time_ms / 1024), (time_ms % 1024) * COUNTER_SPAN + counter)
end

function init(args)
  math.randomseed(os.time() + thread_index)
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. (os.getenv("TOKEN") or "")
end

function request()
  local orders = {}
  for n = 1, ORDERS_PER_REQUEST do
    local partner = math.random(1, PARTNERS)
    local account = string.format("%.0f", partner * 4294967296 + math.random(1, USER_ACCOUNTS))
    orders[n] = string.format('{"id":"%s","op":"debit","partner":%d,"account":"%s",' ..
      '"amount":"1","currency":978}', order_id(), partner, account)
  end
  local body = '{"mode":"' .. MODE .. '","orders":[' .. table.concat(orders, ",") .. "]}"
  return wrk.format("POST", nil, nil, body)
end

function done(summary, latency, requests)
  io.write(string.format("orders/s: %.0f; non-2xx replies: %d; p50 %.2f ms, p99 %.2f ms\n",
    summary.requests / (summary.duration / 1e6) * ORDERS_PER_REQUEST, summary.errors.status,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
