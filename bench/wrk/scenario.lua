-- One benchmark scenario for wrk: the requests come from a file the harness wrote, and are sent
-- round-robin; a JSON summary line goes to stdout at the end for the harness to read.
--
--   wrk -s bench/wrk/scenario.lua URL -- REQUESTS_FILE
--
-- The requests file has one tab-separated line per item; header lines come first:
--   header   NAME     VALUE                      sent with every request (tokens, content type)
--   request  METHOD   PATH   BODY   [NAME VALUE]...  one request; BODY may be empty; extra
--                                                    headers (If-None-Match) for this one only
-- The ceiling is run through this same script, so that wrk's own work per request is the same
-- for every scenario.

local requests = {}
local next_index = 1

local function fields_of(line)
  local fields = {}
  for field in (line .. "\t"):gmatch("([^\t]*)\t") do
    fields[#fields + 1] = field
  end
  return fields
end

function init(args)
  local common = {}
  local file = assert(io.open(args[1], "r"))
  for line in file:lines() do
    local fields = fields_of(line)
    if fields[1] == "header" then
      common[fields[2]] = fields[3]
    elseif fields[1] == "request" then
      local headers = {}
      for name, value in pairs(common) do
        headers[name] = value
      end
      for i = 5, #fields - 1, 2 do
        headers[fields[i]] = fields[i + 1]
      end
      local body = fields[4] ~= "" and fields[4] or nil
      requests[#requests + 1] = wrk.format(fields[2], fields[3], headers, body)
    end
  end
  file:close()
  assert(#requests > 0, "no request lines in " .. args[1])
  -- Each thread starts at another place in the list, so threads do not move in lockstep.
  math.randomseed(os.time() + (tonumber(tostring({}):match("0x(%x+)") or "0", 16) or 0))
  next_index = (math.random(#requests) - 1) % #requests + 1
end

function request()
  local chosen = requests[next_index]
  next_index = next_index % #requests + 1
  return chosen
end

function done(summary, latency, _)
  local errors = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_us": {"mean": %.1f, "p50": %d, "p90": %d, "p99": %d, "max": %d}}\n',
    summary.requests, summary.duration, summary.bytes,
    errors.connect, errors.read, errors.write, errors.status, errors.timeout,
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max))
end
