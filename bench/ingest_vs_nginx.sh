#!/usr/bin/env bash
# Ingest throughput: `POST /` requests/s for corral (one webhook output delivering every alert to
# a local nginx) against nginx itself answering the same POST, in the same run, with wrk.
# Prints the two rates, their ratio, corral's peak RSS and whether every alert was delivered.
#
# Usage: bench/ingest_vs_nginx.sh [--quick] [--corral PATH]
#   --quick   short runs (harness check, numbers not meaningful)
set -euo pipefail
cd "$(dirname "$0")/.."

duration=10s; connections=32; threads=2
corral_bin=build-release/corral
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) duration=2s; connections=8 ;;
    --corral) corral_bin="$2"; shift ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done
for tool in nginx wrk curl; do
  command -v "$tool" >/dev/null || { echo "needs $tool (scripts/install-deps --test)" >&2; exit 2; }
done
if [ ! -x "$corral_bin" ]; then
  cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release -DCORRAL_BUILD_TESTS=OFF >/dev/null
  cmake --build build-release --target corral >/dev/null
  corral_bin=build-release/corral
fi

source bench/lib.sh
metric() {  # name-and-labels
  metric_at "$corral_port" "$1"
}

nginx_port=$(free_port)
mkdir -p "$work/nginx"
cat >"$work/nginx/nginx.conf" <<CONF
daemon off;
worker_processes auto;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/nginx/body;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$nginx_port;
    location / { return 200 "ok"; }
  }
}
CONF
nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" &
pids+=($!)
wait_http "http://127.0.0.1:$nginx_port/"

start_corral() {  # format concurrency fsync -> sets corral_pid, corral_port
  corral_port=$(free_port)
  local grpc_port; grpc_port=$(free_port)
  rm -rf "$work/data"
  cat >"$work/corral.yaml" <<CONF
listen:
  http: 127.0.0.1:$corral_port
  grpc: 127.0.0.1:$grpc_port
spool:
  dir: $work/data
  fsync: $3
outputs:
  - name: sink
    type: webhook
    url: http://127.0.0.1:$nginx_port/alerts
    format: $1
    concurrency: $2
    queue_size: 10000000
CONF
  CORRAL_LOG_LEVEL=warn "$corral_bin" -c "$work/corral.yaml" 2>"$work/corral.log" &
  corral_pid=$!
  pids+=($corral_pid)
  wait_http "http://127.0.0.1:$corral_port/healthz"
}
stop_corral() {
  kill "$corral_pid"
  wait "$corral_pid" 2>/dev/null || true
}

alert=$(tr -d '\n' < ../shared/fixtures/falco/syscall_read_sensitive_file.json 2>/dev/null ||
        echo '{"rule":"R","priority":"Warning","time":"2026-11-02T10:15:31Z","output":"o","output_fields":{"a":1}}')
cat >"$work/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [==[$alert]==]
LUA

rate() {  # url -> requests/s (non-2xx answers are reported)
  local out
  out=$(wrk -t"$threads" -c"$connections" -d"$duration" -s "$work/post.lua" "$1")
  if grep -q "Non-2xx" <<<"$out"; then echo "non-2xx answers from $1:" >&2; echo "$out" >&2; fi
  awk '/Requests\/sec/ {print $2}' <<<"$out"
}

# Runs the load against corral, then waits until every accepted alert reached nginx.
measure_corral() {  # format concurrency fsync
  start_corral "$1" "$2" "$3"
  local rps accepted delivered=0 drain_start drain_s rss_kb
  rps=$(rate "http://127.0.0.1:$corral_port/")
  accepted=$(metric 'corral_inputs_total{source="http",status="accepted"}')
  drain_start=$(date +%s.%N)
  for _ in $(seq 1 1200); do
    delivered=$(metric 'corral_outputs_total{output="sink",status="delivered"}')
    [ "${delivered:-0}" = "$accepted" ] && break
    sleep 0.1
  done
  drain_s=$(echo "$(date +%s.%N) - $drain_start" | bc)
  rss_kb=$(awk '/VmHWM/ {print $2}' "/proc/$corral_pid/status")
  local fsyncs records
  fsyncs=$(metric corral_spool_fsyncs_total)
  records=$(metric corral_spool_records_per_fsync_sum)
  stop_corral
  printf 'corral format=%s concurrency=%s fsync=%s rps=%s ratio=%.2f accepted=%s delivered=%s drain_after_load_s=%.1f peak_rss_mb=%.1f alerts_per_fsync=%s\n' \
    "$1" "$2" "$3" "$rps" "$(echo "$rps / $nginx_rps" | bc -l)" "$accepted" "$delivered" "$drain_s" \
    "$(echo "$rss_kb / 1024" | bc -l)" \
    "$( [ "${fsyncs:-0}" -gt 0 ] && echo "scale=1; $records / $fsyncs" | bc || echo -)"
  [ "$delivered" = "$accepted" ] || { echo "not every accepted alert was delivered" >&2; failed=1; }
}

failed=0
nginx_before=$(rate "http://127.0.0.1:$nginx_port/")
nginx_rps=$nginx_before
printf 'nginx rps=%s (reference: return 200 on the same POST) cores=%s wrk: -t%s -c%s -d%s\n' \
  "$nginx_rps" "$(nproc)" "$threads" "$connections" "$duration"
measure_corral ndjson_batch 2 batch
measure_corral ndjson_batch 2 never
measure_corral json 8 batch
nginx_after=$(rate "http://127.0.0.1:$nginx_port/")
printf 'nginx rps=%s (again, after corral: the machine'"'"'s noise)\n' "$nginx_after"
exit "$failed"
