#!/usr/bin/env bash
# gRPC fan-out: `POST /` requests/s with 10 corral.v1.Alerts/Subscribe streams open against the
# same corral with none (wrk, equal connections and duration, distinct alerts), and whether
# every stream received every accepted alert, in seq order with no gap, resuming with after_seq
# when corral cut it off as too slow.
#
# Usage: bench/grpc_fanout.sh   (environment: see bench/lib.sh; prints a Markdown section)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
need_tools wrk curl bc
bench_build corral corral_grpc_subscribers

streams=10
wrk_script "$work/corral.lua" "$(falco_alert)"

# One corral (one file output to /dev/null) under wrk load with `streams` subscribers. Sets rps,
# accepted, peak_kb, report (the subscribers' line, "-" without), cpu_us (corral's CPU per
# accepted alert, until every stream had every alert).
run() {  # streams
  note "grpc fan-out: $1 streams"
  # Retained for an hour (the default), so that a stream cut off as too slow can resume.
  start_corral "fanout-$1" batch "outputs:
  - {name: sink, type: file, path: /dev/null, queue_size: 10000000}" 1h
  report="-"
  if [ "$1" -gt 0 ]; then
    coproc SUBS { "$BENCH_BUILD/corral_grpc_subscribers" "127.0.0.1:$corral_grpc_port" "$1" 2>"$work/subs.err"; }
    pids+=("$SUBS_PID")
    for _ in $(seq 1 200); do
      [ "$(metric_at "$corral_port" corral_grpc_subscribers)" = "$1" ] && break
      sleep 0.05
    done
  fi
  local cpu0; cpu0=$(cpu_s "$corral_pid")
  wrk_rate "http://127.0.0.1:$corral_port/" "$work/corral.lua"
  rps=$wrk_rps
  settled_accepted
  if [ "$1" -gt 0 ]; then
    echo "$accepted" >&"${SUBS[1]}"
    read -r report <&"${SUBS[0]}"
    stop_pid "$SUBS_PID"
  fi
  cpu_us=$(echo "($(cpu_s "$corral_pid") - $cpu0) * 1000000 / $accepted" | bc)
  peak_kb=$(rss_kb "$corral_pid" VmHWM)
  stop_corral
}

run 0
base_rps=$rps base_accepted=$accepted base_peak=$peak_kb base_cpu=$cpu_us
run "$streams"
[[ "$report" == *ok=true* ]] || { cat "$work/subs.err" >&2; fail "not every stream received every alert: $report"; }

record_check "gRPC: $streams Subscribe streams / none (requests/s)" "$(ratio "$rps" "$base_rps")" '>=' 0.5

cat <<EOF
## gRPC fan-out: $streams \`Subscribe\` streams against none (\`bench/grpc_fanout.sh\`)

Load: \`$(WRK_COMMAND)\` POSTing distinct 1 KB alerts; spool \`fsync: batch\`, \`retain: 1h\`; one \`file\` output to
/dev/null. The same config twice: without subscribers, then with $streams
\`corral.v1.Alerts/Subscribe\` streams opened by \`corral_grpc_subscribers\` (one process on the
same cores, reading with gRPC's callback API; it checks each message's framing and seq rather
than parsing the whole Alert, which would cost it more than corral spends sending), which then
waits until every stream has every accepted alert. CPU: corral's user + system time per
accepted alert, from the start of the load until every stream had every alert. A stream that falls more than the subscriber buffer (10,000 alerts) behind is
cut off with \`RESOURCE_EXHAUSTED\` and resubscribes with \`after_seq\` = its last seq, as the
API asks of clients; each stream checks that seqs arrive one after another (no gap, no repeat).

| | requests/s | ratio | accepted | every stream got every alert | resumes (all streams) | corral CPU µs/alert | peak RSS |
|---|---|---|---|---|---|---|---|
| no subscribers | $base_rps | 1.00 | $base_accepted | — | — | $base_cpu | $(mb "$base_peak") MB |
| $streams streams | $rps | $(ratio "$rps" "$base_rps") | $accepted | yes ($(kv "$report" min)–$(kv "$report" max) each, no gap) | $(kv "$report" resumes) | $cpu_us | $(mb "$peak_kb") MB |
EOF
