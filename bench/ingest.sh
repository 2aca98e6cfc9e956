#!/usr/bin/env bash
# Ingest and memory: `POST /` requests/s for corral (spool `fsync: batch`, one webhook output
# delivering every alert to a local nginx) against nginx `return 200` on the same POST (the
# machine's HTTP ceiling) and against Debian's prometheus-alertmanager receiving the equivalent
# alert on /api/v2/alerts; wrk with equal threads, connections and duration, every request a
# distinct alert. Also: corral with `fsync: never` and with one request per alert (`format:
# json`); nginx again at the end (the machine's drift); RSS idle and peak of corral and
# Alertmanager. Checks that corral delivered every alert it accepted.
#
# Usage: bench/ingest.sh   (environment: see bench/lib.sh; prints a Markdown section)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
need_tools wrk curl bc
bench_build corral

wrk_script "$work/corral.lua" "$(falco_alert)"
wrk_script "$work/alertmanager.lua" "$(alertmanager_alert)"

start_nginx
note "ingest: nginx"
wrk_rate "http://127.0.0.1:$nginx_port/" "$work/corral.lua"
nginx_rps=$wrk_rps

rows=()
# One corral under wrk load, then until every accepted alert reached nginx. Adds a table row;
# sets rps, idle_kb, peak_kb.
measure_corral() {  # label format concurrency fsync
  note "ingest: $1"
  start_corral "ingest-$2-$4" "$4" "outputs:
  - {name: sink, type: webhook, url: 'http://127.0.0.1:$nginx_port/alerts', format: $2,
     concurrency: $3, queue_size: 10000000}"
  local drain_start drain_s fsyncs records per_fsync=—
  idle_kb=$(idle_rss_kb "$corral_pid")
  wrk_rate "http://127.0.0.1:$corral_port/" "$work/corral.lua"
  rps=$wrk_rps
  drain_start=$(date +%s.%N)
  wait_delivered sink
  drain_s=$(echo "$(date +%s.%N) - $drain_start" | bc)
  peak_kb=$(rss_kb "$corral_pid" VmHWM)
  fsyncs=$(metric_at "$corral_port" corral_spool_fsyncs_total)
  records=$(metric_at "$corral_port" corral_spool_records_per_fsync_sum)
  [ "${fsyncs:-0}" -gt 0 ] &&
    per_fsync="$(printf '%.1f' "$(echo "$records / $fsyncs" | bc -l)") ($((fsyncs / ${WRK_DURATION%s}))/s)"
  stop_corral
  rows+=("| $1 | $rps | $(ratio "$rps" "$nginx_rps") | $per_fsync | $delivered of $accepted ($(printf '%.1f' "$drain_s") s after the load) | $(mb "$idle_kb") / $(mb "$peak_kb") MB |")
  [ "$delivered" = "$accepted" ] || fail "corral ($1) delivered $delivered of $accepted accepted alerts"
}

measure_corral "corral, webhook \`ndjson_batch\` ×2, \`fsync: batch\`" ndjson_batch 2 batch
corral_rps=$rps corral_idle=$idle_kb corral_peak=$peak_kb
measure_corral "corral, webhook \`ndjson_batch\` ×2, \`fsync: never\`" ndjson_batch 2 never
measure_corral "corral, webhook \`json\` ×8 (a request per alert), \`fsync: batch\`" json 8 batch

note "ingest: alertmanager"
start_alertmanager
am_idle_kb=$(idle_rss_kb "$am_pid")
wrk_rate "http://127.0.0.1:$am_port/api/v2/alerts" "$work/alertmanager.lua"
am_rps=$wrk_rps
am_peak=$(rss_kb "$am_pid" VmHWM)
am_alerts=$(curl -fs "http://127.0.0.1:$am_port/api/v2/alerts" | grep -o '"bench_id"' | wc -l)
stop_pid "$am_pid"
[ "$am_alerts" -gt 0 ] || fail "Alertmanager holds none of the alerts sent"

note "ingest: nginx again"
wrk_rate "http://127.0.0.1:$nginx_port/" "$work/corral.lua"
nginx_after=$wrk_rps

record_check "ingest: corral (\`fsync: batch\`) / nginx" "$(ratio "$corral_rps" "$nginx_rps")" '>=' 0.5
record_check "ingest: corral / Alertmanager" "$(ratio "$corral_rps" "$am_rps")" '>=' 3
record_check "memory: corral RSS idle (MB)" "$(mb "$corral_idle")" '<=' 25
record_check "memory: corral peak RSS under ingest load (MB)" "$(mb "$corral_peak")" '<=' 150

cat <<EOF
## Ingest: \`POST /\` against nginx and Alertmanager (\`bench/ingest.sh\`)

Load: \`$(WRK_COMMAND)\` on each target, every request a distinct alert (the 1 KB Falco sample
\`syscall_read_sensitive_file.json\` with \`"bench.id":"T-N"\` in its output_fields; for
Alertmanager the same alert as labels \`alertname\`, \`rule\`, \`priority\`, \`source\`, \`hostname\`,
\`bench_id\` and the output as an annotation, POSTed to \`/api/v2/alerts\`). corral delivers every
alert to the same nginx; the run waits until \`corral_outputs_total{status="delivered"}\` equals
the accepted count. Alertmanager ($(prometheus-alertmanager --version 2>&1 | head -1 | awk '{print $3}')): one receiver that notifies
nothing, clustering off, its own storage; it held $am_alerts distinct alerts after the load.

| target | requests/s | ratio to nginx | alerts per fsync (fsyncs/s) | delivered | RSS idle / peak |
|---|---|---|---|---|---|
| nginx \`return 200\` (reference) | $nginx_rps | 1.00 | — | — | — |
$(printf '%s\n' "${rows[@]}")
| Alertmanager \`/api/v2/alerts\` | $am_rps | $(ratio "$am_rps" "$nginx_rps") | — | — | $(mb "$am_idle_kb") / $(mb "$am_peak") MB |
| nginx again, after the others | $nginx_after | $(ratio "$nginx_after" "$nginx_rps") | — | — | — |

corral (\`fsync: batch\`) against Alertmanager: **$(ratio "$corral_rps" "$am_rps")×**.

## Memory: RSS idle and peak (\`bench/ingest.sh\`)

Idle: VmRSS half a second after the process serves; peak: VmHWM after the load above.

| | idle | peak under the ingest load |
|---|---|---|
| corral (\`fsync: batch\`, one webhook output) | $(mb "$corral_idle") MB | $(mb "$corral_peak") MB |
| Alertmanager | $(mb "$am_idle_kb") MB | $(mb "$am_peak") MB |
EOF
