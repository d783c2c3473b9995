-- wrk script for the bench harness: rotates over the request paths listed in a file (one per line,
-- given after `--`), and prints one JSON line of exact figures when the run is done.
local paths = {}
local index = 0

function init(args)
  local file = args[1] and io.open(args[1], "r")
  if file then
    for line in file:lines() do
      if line ~= "" then paths[#paths + 1] = line end
    end
    file:close()
  end
  -- Threads start at different offsets so they do not march in step over the same keys.
  index = math.random(0, math.max(#paths - 1, 0))
end

function request()
  if #paths == 0 then return wrk.format() end
  index = index % #paths + 1
  return wrk.format("GET", paths[index])
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"duration_us":%d,"requests":%d,"bytes":%d,"errors_connect":%d,"errors_read":%d,' ..
    '"errors_write":%d,"errors_status":%d,"errors_timeout":%d,"latency_min_us":%d,"latency_mean_us":%.1f,' ..
    '"latency_max_us":%d,"p50_us":%d,"p90_us":%d,"p95_us":%d,"p99_us":%d}\n',
    summary.duration, summary.requests, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency.max, latency:percentile(50), latency:percentile(90),
    latency:percentile(95), latency:percentile(99)))
end
