-- wrk script for kprcnn serve: POST one image to /v1/predict on every request, count answers by status, and print
-- one JSON summary line (prefixed "kprcnn-wrk ") that bench/server_load.sh and tests/server/test_load.py parse.
--   KPRCNN_WRK_IMAGE  image file to send (required)
--   KPRCNN_WRK_PATH   request target (default /v1/predict)
-- Script arguments (after `--`): RATE CONNECTIONS: pace the load at about RATE requests/s in total (each connection
-- waits CONNECTIONS / RATE seconds before each request), so an overload test offers a fixed rate, as independent
-- clients do, instead of retrying every instant 503 at once as a closed loop does. Without them: closed loop.
local path = os.getenv("KPRCNN_WRK_IMAGE")
local file = assert(io.open(path or "", "rb"), "set KPRCNN_WRK_IMAGE to an image file")
local image = file:read("*a")
file:close()

wrk.method = "POST"
wrk.path = os.getenv("KPRCNN_WRK_PATH") or "/v1/predict"
wrk.body = image
wrk.headers["Content-Type"] = "application/octet-stream"

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

local pause_ms = 0

function init(args)
  statuses = {}
  local rate, connections = tonumber(args[1]), tonumber(args[2])
  if rate and connections and rate > 0 then
    pause_ms = connections / rate * 1000
  end
end

function delay()
  return pause_ms
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do
      total[status] = (total[status] or 0) + n
    end
  end
  local parts = {}
  for status, n in pairs(total) do
    table.insert(parts, string.format('"%d": %d', status, n))
  end
  local e = summary.errors
  io.write(string.format(
    'kprcnn-wrk {"requests": %d, "duration_s": %.3f, "rps": %.2f, "statuses": {%s}, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}, ' ..
    '"latency_ms": {"p50": %.2f, "p90": %.2f, "p99": %.2f, "max": %.2f, "mean": %.2f}}\n',
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    table.concat(parts, ", "), e.connect, e.read, e.write, e.timeout,
    latency:percentile(50) / 1e3, latency:percentile(90) / 1e3, latency:percentile(99) / 1e3,
    latency.max / 1e3, latency.mean / 1e3))
end
