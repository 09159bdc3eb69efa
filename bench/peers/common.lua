-- Shared by Keel's wrk scripts in bench/peers: the same error counting and RESULT line as the peer
-- harnesses' lua/common.lua (../shared/peers/*/lua), so one parser reads all three.
-- A response is an error if it is not 2xx, or 2xx without `ok_pattern` in its body (bad_body).
-- Counters are globals in each thread's Lua state, summed in done().
local threads = {}
n_resp, n_non2xx, n_bad, n_ok, n_extra = 0, 0, 0, 0, 0
REGION_ID = os.getenv("REGION_ID") or ""

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

json_headers = { ["Accept"] = "application/json", ["Content-Type"] = "application/json" }

function classify(status, body)
  n_resp = n_resp + 1
  if status < 200 or status >= 300 then
    n_non2xx = n_non2xx + 1
  elseif ok_pattern and body and not string.find(body, ok_pattern, 1, true) then
    n_bad = n_bad + 1
  else
    n_ok = n_ok + 1
  end
end

function get_request(path)
  wrk.method = "GET"
  wrk.path = path
  wrk.headers = { ["Accept"] = "application/json" }
end

function done(summary, latency, requests)
  local non2xx, bad, ok, extra = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    non2xx = non2xx + (t:get("n_non2xx") or 0)
    bad = bad + (t:get("n_bad") or 0)
    ok = ok + (t:get("n_ok") or 0)
    extra = extra + (t:get("n_extra") or 0)
  end
  local secs = summary.duration / 1e6
  local e = summary.errors
  local sockerr = e.connect + e.read + e.write + e.timeout
  io.write(string.format(
    "RESULT rps=%.1f ok_per_s=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f requests=%d ok=%d non2xx=%d bad_body=%d socket_errors=%d extra=%d\n",
    summary.requests / secs, ok / secs,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, summary.requests, ok, non2xx, bad, sockerr, extra))
end
