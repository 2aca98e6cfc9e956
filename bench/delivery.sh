#!/usr/bin/env bash
# End to end: alerts/s delivered to webhook sinks and the latency from POST to delivery, at a
# fixed rate (1,000 alerts/s, open loop) and at saturation, with 1, 4 and 16 webhook outputs,
# 1 KB and 16 KB alerts, batched and one request per alert. corral_delivery_bench sends distinct
# alerts to corral and is the sink of every output; it checks that every accepted alert reached
# every output. corral's CPU time per alert shows how the cost grows with the work.
#
# Usage: bench/delivery.sh   (environment: see bench/lib.sh; prints a Markdown section)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
need_tools curl bc
bench_build corral corral_delivery_bench

if [ "$BENCH_QUICK" = 1 ]; then
  rate=200 rate_s=1 sat_s=1 drain_s=30
else
  rate=1000 rate_s=10 sat_s=5 drain_s=120
fi
# Saturation needs enough senders: each waits for the group commit (fsync) that covers its
# alert, so 16 connections left about a third of the machine idle; 32, as in the ingest stage.
fixed_connections=8 sat_connections=32

# The webhook outputs: N of them, each to its own path on the one sink.
outputs_yaml() {  # n format sink-port
  local k concurrency=2 batch="batch: {max_wait: 5ms}, "
  [ "$2" = json ] && concurrency=8 batch=""
  echo "outputs:"
  for k in $(seq 0 $(($1 - 1))); do
    echo "  - {name: o$k, type: webhook, url: 'http://127.0.0.1:$3/o/$k', format: $2, concurrency: $concurrency, ${batch}queue_size: 1000000}"
  done
}

rows=()
# One run: a fresh corral, the tool at the given rate (0: saturation). Adds a table row and
# sets line (the tool's report), cpu_us (corral's CPU per accepted alert) and peak_kb.
run() {  # outputs bytes format rate
  local sink_port seconds connections cpu0 cpu1 label
  sink_port=$(free_port)
  start_corral "delivery-$1-$2-$3-$4" batch "$(outputs_yaml "$1" "$3" "$sink_port")"
  if [ "$4" = 0 ]; then seconds=$sat_s connections=$sat_connections label=saturation
  else seconds=$rate_s connections=$fixed_connections label="$4/s"; fi
  note "delivery: outputs=$1 bytes=$2 format=$3 $label"
  cpu0=$(cpu_s "$corral_pid")
  run_bg "$work/tool.out" "$BENCH_BUILD/corral_delivery_bench" --target "127.0.0.1:$corral_port" \
    --sink-port "$sink_port" --outputs "$1" --alert-bytes "$2" --rate "$4" \
    --duration "$seconds" --connections "$connections" --drain-timeout "$drain_s" \
    2>"$work/tool.err" || { cat "$work/tool.out" "$work/tool.err" >&2; fail "delivery run ($*)"; }
  line=$(cat "$work/tool.out")
  cpu1=$(cpu_s "$corral_pid")
  peak_kb=$(rss_kb "$corral_pid" VmHWM)
  stop_corral
  cpu_us=$(echo "scale=1; ($cpu1 - $cpu0) * 1000000 / $(kv "$line" accepted)" | bc)
  local late=—
  [ "$4" = 0 ] || late=$(kv "$line" sender_lag_max_ms)
  rows+=("| $1 | $(($2 / 1024)) KB | \`$3\` | $label | $(kv "$line" send_per_s) | $(kv "$line" delivered_per_s) | $(kv "$line" p50_ms) / $(kv "$line" p99_ms) / $(kv "$line" max_ms) | $(kv "$line" ack_p99_ms) | $late | $cpu_us | $(kv "$line" accepted) (refused $(kv "$line" refused), duplicates $(kv "$line" duplicates)) | $(mb "$peak_kb") MB |")
}

declare -A sat_rate sat_cpu
peak_max=0
for config in "1 1024 ndjson_batch" "4 1024 ndjson_batch" "16 1024 ndjson_batch" \
              "1 16384 ndjson_batch" "1 1024 json"; do
  read -r n bytes format <<<"$config"
  run "$n" "$bytes" "$format" "$rate"
  [ "$config" = "1 1024 ndjson_batch" ] && p99_fixed=$(kv "$line" p99_ms)
  [ "$config" = "1 1024 json" ] && p99_fixed_json=$(kv "$line" p99_ms)
  peak_max=$((peak_kb > peak_max ? peak_kb : peak_max))
  run "$n" "$bytes" "$format" 0
  sat_rate[$config]=$(kv "$line" delivered_per_s)
  sat_cpu[$config]=$cpu_us
  peak_max=$((peak_kb > peak_max ? peak_kb : peak_max))
done

one="1 1024 ndjson_batch" four="4 1024 ndjson_batch"
record_check "end to end: alerts/s to one webhook at saturation (spool on)" "${sat_rate[$one]}" '>=' 20000
record_check "end to end: p99 POST→delivered at $rate/s, one webhook (ms)" "$p99_fixed" '<=' 10
record_check "end to end: 4 outputs' CPU per alert / one output's" \
  "$(ratio "${sat_cpu[$four]}" "${sat_cpu[$one]}")" '<=' 2
record_check "memory: corral peak RSS over the end-to-end runs (MB)" "$(mb "$peak_max")" '<=' 150

cat <<EOF
## End to end: POST → webhook delivery (\`bench/delivery.sh\`)

Command per row: \`corral_delivery_bench --target … --sink-port … --outputs N --alert-bytes B
--rate R --duration S --connections C\` against a fresh corral (spool \`fsync: batch\`; N webhook
outputs to the tool's sink, \`ndjson_batch\` with concurrency 2 and \`batch: {max_wait: 5ms}\`,
or \`json\` with concurrency 8). Fixed rate: $rate alerts/s for ${rate_s} s, open loop over
$fixed_connections keep-alive connections (latency counted from each alert's due time).
Saturation: $sat_connections connections sending as fast as corral answers for ${sat_s} s (as many
as the ingest stage's wrk: each sender waits for the fsync covering its alert, and 16 left about
a third of the machine idle).
Delivered/s: accepted alerts over the time from the first send to the last arrival (each
output got every one). Latency: POST → arrival at the sink, over every (alert, output); the
200 column is POST → 200. Sender late: how far behind its schedule the sender woke at worst
(the machine's scheduling delay, which every latency here includes). CPU: corral's user +
system time per accepted alert. The sender and the sink share the machine's cores with corral.

| outputs | alert | format | load | sent/s | delivered/s | latency p50 / p99 / max (ms) | POST → 200 p99 (ms) | sender late max (ms) | corral CPU µs/alert | accepted | peak RSS |
|---|---|---|---|---|---|---|---|---|---|---|---|
$(printf '%s\n' "${rows[@]}")

Cost with 4 outputs against one (CPU per alert at saturation): **$(ratio "${sat_cpu[$four]}" "${sat_cpu[$one]}")×**;
with 16: $(ratio "${sat_cpu[16 1024 ndjson_batch]}" "${sat_cpu[$one]}")×; 16 KB alerts against 1 KB: $(ratio "${sat_cpu[1 16384 ndjson_batch]}" "${sat_cpu[$one]}")×.
p99 at $rate/s with one request per alert (\`json\`): $p99_fixed_json ms.
EOF
