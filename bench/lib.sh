# Shared by the bench scripts: a free loopback port, waiting for readiness, and one wrk run
# reported as a JSON line. Source it after setting THREADS, CONNS and DURATION.

# One wrk client on one address would otherwise meet the rate limits, which are not what the
# benchmarks measure.
export KEEL_RATE_LIMITS=false

# release_bins CARGO_BUILD_ARGS…: sets BIN to the directory of Keel's release binaries — $BIN_DIR
# when given (prebuilt), else builds them (e.g. `-p keel -p keel-load`) into $CARGO_TARGET_DIR.
release_bins() {
  if [ -n "${BIN_DIR:-}" ]; then
    BIN="$BIN_DIR"
    return
  fi
  echo "building release binaries…" >&2
  cargo build --release --quiet "$@"
  BIN="$CARGO_TARGET_DIR/release"
}

# bench_workdir: a scratch directory in $work, removed on exit after every process in $pids stops.
bench_workdir() {
  work="$(mktemp -d)"
  pids=()
  trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"' EXIT
}

# start_keel [SERVE_ARGS…]: the release Keel ($BIN) on a free port with its data in $work/data,
# ready; sets port, base and keel_pid.
start_keel() {
  port="$(free_port)"
  base="http://127.0.0.1:$port"
  KEEL_DATA_DIR="$work/data" KEEL_ADDR="127.0.0.1:$port" KEEL_LOG=warn "$BIN/keel" serve "$@" >"$work/keel.log" 2>&1 &
  keel_pid=$!; pids+=("$keel_pid")
  wait_ready "$base/readyz"
}

# api_key NAME: a new admin API key's secret for the Keel started by start_keel.
api_key() { KEEL_DATA_DIR="$work/data" "$BIN/keel" apikey create --name "$1" 2>/dev/null | tail -n1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_ready() { # URL: up to 20 s
  for _ in $(seq 1 400); do curl -fs -o /dev/null "$1" && return 0; sleep 0.05; done
  echo "not ready: $1" >&2; return 1
}

# wrk_run NAME URL [LUA_SCRIPT] → {"name", "rps", "p50_ms", "p99_ms", "non_2xx"} on one line.
# WARMUP=1 runs 2 s first, unmeasured.
wrk_run() {
  local name="$1" url="$2" script="${3:-}" out args=()
  [ -n "$script" ] && args=(-s "$script")
  [ "${WARMUP:-0}" = 1 ] && wrk -t"$THREADS" -c"$CONNS" -d2s "${args[@]}" "$url" >/dev/null
  out="$(wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "${args[@]}" "$url")"
  python3 - "$name" "$out" <<'PY'
import json, re, sys
name, out = sys.argv[1], sys.argv[2]
def ms(label):
    m = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    v, unit = float(m.group(1)), m.group(2)
    return round(v / 1000 if unit == "us" else v * 1000 if unit == "s" else v, 3)
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
print(json.dumps({"name": name, "rps": rps, "p50_ms": ms("50"), "p99_ms": ms("99"),
                  "non_2xx": int(errors.group(1)) if errors else 0}))
PY
}

# wrk_post_script FILE PATH BODY_FILE: a wrk script POSTing the JSON body in BODY_FILE to PATH.
wrk_post_script() {
  python3 - "$2" "$3" >"$1" <<'PY'
import json, sys
path, body = sys.argv[1], open(sys.argv[2]).read()
print(f"local body = {json.dumps(body)}")
print(f'request = function() return wrk.format("POST", "{path}", {{["Content-Type"] = "application/json"}}, body) end')
PY
}
