-- wrk script for bench/api_accept.py: POST a Twilio-style form that creates one message.
--
--   wrk -t1 -c64 -d10s -s bench/accept.lua http://127.0.0.1:PORT/path -- AUTH_B64 [START [BODY]]
--
-- AUTH_B64 is the base64 of "AccountSid:AuthToken"; BODY (optional, form-encoded) replaces
-- the message text. Each request gets its own To number, +1415 followed by 2000000 plus a
-- per-thread counter that starts at START (so successive wrk runs can use fresh numbers and
-- a server cannot answer from a cache), skipping the From number +14155550100.
-- done() prints one machine-readable line:
--   WRK_RESULT {"requests":N,"non2xx":N,...,"p50_us":N,"p99_us":N}
-- that api_accept.py parses. wrk counts a response as an error when its status is > 399;
-- latency percentiles are in microseconds.

local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("id", thread_count)
end

local counter = 0
local body_text = "Hello+from+the+Herald+benchmark"

function init(args)
  local auth = args[1] or ""
  if args[3] ~= nil and args[3] ~= "" then
    body_text = args[3]
  end
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  wrk.headers["Authorization"] = "Basic " .. auth
  counter = (tonumber(args[2]) or 0) + ((id or 1) - 1) * 1000000
end

function request()
  counter = counter + 1
  local local_number = 2000000 + counter % 8000000
  if local_number == 5550100 then
    local_number = 5550101
  end
  local body = string.format(
    "To=%%2B1415%07d&From=%%2B14155550100&Body=%s", local_number, body_text
  )
  return wrk.format(nil, nil, nil, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  print(string.format(
    'WRK_RESULT {"requests":%d,"non2xx":%d,"connect_errors":%d,"read_errors":%d,' ..
    '"write_errors":%d,"timeouts":%d,"duration_us":%d,"bytes":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f,"threads":%d}',
    summary.requests, e.status, e.connect, e.read, e.write, e.timeout,
    summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean, thread_count
  ))
end
