#!/usr/bin/env bash
# gRPC fan-out: `POST /` requests/s with 10 corral.v1.Alerts/Subscribe streams open against the
# same corral with none, in the same run (wrk, equal connections and duration), and whether every
# stream received every accepted alert. Target: with subscribers, ≥ 0.5× the rate without.
#
# Usage: bench/grpc_fanout.sh [--quick] [--streams N]
#   --quick   short runs (harness check, numbers not meaningful)
set -euo pipefail
cd "$(dirname "$0")/.."

duration=10s; connections=32; threads=2; streams=10
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) duration=2s; connections=8 ;;
    --streams) streams="$2"; shift ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done
for tool in wrk curl; do
  command -v "$tool" >/dev/null || { echo "needs $tool (scripts/install-deps --test)" >&2; exit 2; }
done

build=build-release
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCORRAL_BUILD_BENCH=ON >/dev/null
cmake --build "$build" --target corral corral_grpc_subscribers >/dev/null

source bench/lib.sh

alert=$(tr -d '\n' < ../shared/fixtures/falco/syscall_read_sensitive_file.json)
cat >"$work/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [==[$alert]==]
LUA

# One corral (spool fsync: batch, one file output to /dev/null) under wrk load, with `streams`
# subscribers; prints "RPS ACCEPTED PEAK_RSS_MB SUBSCRIBER_REPORT".
run() {  # streams
  local http_port grpc_port corral_pid
  http_port=$(free_port); grpc_port=$(free_port)
  rm -rf "$work/data"
  cat >"$work/corral.yaml" <<CONF
listen: {http: 127.0.0.1:$http_port, grpc: 127.0.0.1:$grpc_port}
spool: {dir: $work/data, fsync: batch}
outputs:
  - {name: sink, type: file, path: /dev/null, queue_size: 10000000}
CONF
  CORRAL_LOG_LEVEL=warn "$build/corral" -c "$work/corral.yaml" 2>"$work/corral.log" &
  corral_pid=$!
  pids+=($corral_pid)
  wait_http "http://127.0.0.1:$http_port/healthz"
  local report="-"
  if [ "$1" -gt 0 ]; then
    coproc SUBS { "$build/corral_grpc_subscribers" "127.0.0.1:$grpc_port" "$1" 2>"$work/subs.err"; }
    pids+=($SUBS_PID)
    for _ in $(seq 1 200); do
      [ "$(metric_at "$http_port" corral_grpc_subscribers)" = "$1" ] && break
      sleep 0.05
    done
  fi
  local out rps accepted rss_kb
  out=$(wrk -t"$threads" -c"$connections" -d"$duration" -s "$work/post.lua" "http://127.0.0.1:$http_port/")
  if grep -q "Non-2xx" <<<"$out"; then echo "non-2xx answers:" >&2; echo "$out" >&2; fi
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  accepted=$(metric_at "$http_port" 'corral_inputs_total{source="http",status="accepted"}')
  if [ "$1" -gt 0 ]; then
    echo "$accepted" >&"${SUBS[1]}"
    read -r report <&"${SUBS[0]}"
    report=${report// /,}
  fi
  rss_kb=$(awk '/VmHWM/ {print $2}' "/proc/$corral_pid/status")
  kill "$corral_pid"; wait "$corral_pid" 2>/dev/null || true
  echo "$rps $accepted $((rss_kb / 1024)) $report"
}

read -r base_rps base_accepted base_rss _ < <(run 0)
read -r fan_rps fan_accepted fan_rss fan_report < <(run "$streams")
echo "cores=$(nproc) wrk: -t$threads -c$connections -d$duration; spool fsync: batch; one file output (/dev/null)"
echo "no subscribers:        $base_rps requests/s (accepted $base_accepted, peak RSS $base_rss MB)"
echo "$streams Subscribe streams:  $fan_rps requests/s (accepted $fan_accepted, peak RSS $fan_rss MB)" \
  "ratio $(echo "scale=2; $fan_rps / $base_rps" | bc)"
echo "subscribers: ${fan_report//,/ }"
[[ "$fan_report" == *ok=true* ]] || { echo "not every stream received every alert" >&2; cat "$work/subs.err" >&2; exit 1; }
