#!/usr/bin/env bash
# Rules: GCP audit entries/s through the rules against parsing alone (corral_rules_bench, in
# memory: the upstream Falco gcpaudit rules plus corral's on the shared samples), and the whole
# gcpaudit ingest (fake Pub/Sub over gRPC on loopback → corral: StreamingPull, rules, spool with
# `fsync: batch`, ack) against the rules alone on the same distinct entries, with no output and
# with a file output. Checks that every message was acked.
#
# Usage: bench/rules.sh   (environment: see bench/lib.sh; prints a Markdown section)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
need_tools curl bc
bench_build corral corral_rules_bench fake_pubsub

if [ "$BENCH_QUICK" = 1 ]; then entries=5000 rounds=1; else entries=100000 rounds=7; fi
samples=("$fixtures/gcpaudit/compute_instances_insert.json" "$fixtures/gcpaudit/crm_set_iam_policy.json")
upstream_rules="$fixtures/gcpaudit/upstream_gcp_auditlog_rules.yaml"

# 1. Rules against parsing, in memory, on the samples.
note "rules: corral_rules_bench"
rules_cmd=("$BENCH_BUILD/corral_rules_bench" --rounds "$rounds" "$upstream_rules" rules/gcp_audit.yaml -- "${samples[@]}")
run_bg "$work/rules.out" "${rules_cmd[@]}"
rules_line=$(cat "$work/rules.out")

# 2. Distinct entries (an insertId each, so dedup keeps none back), alternating the two samples:
# both fire a built-in rule, so every entry becomes an alert.
awk -v n="$entries" '
  FNR == 1 && match($0, /"insertId":"[^"]*"/) {
    head[s + 0] = substr($0, 1, RSTART - 1) "\"insertId\":\"bench-"
    tail[s++] = "\"" substr($0, RSTART + RLENGTH)
  }
  END { for (i = 0; i < n; i++) print head[i % s] i tail[i % s] }' "${samples[@]}" >"$work/entries.ndjson"
[ "$(wc -l <"$work/entries.ndjson")" = "$entries" ] || fail "no insertId in the samples"
# The reference on the first 5,000 of them (each pass goes over every entry given).
head -5000 "$work/entries.ndjson" >"$work/reference.ndjson"
run_bg "$work/reference.out" "$BENCH_BUILD/corral_rules_bench" --rounds "$rounds" rules/gcp_audit.yaml -- "$work/reference.ndjson"
reference_line=$(cat "$work/reference.out")
reference_rate=$(kv "$reference_line" evaluate_first_per_s)

"$BENCH_BUILD/tests/fake_pubsub" --topic audit --subscription spool --subscription output \
  --publish "$work/entries.ndjson" >"$work/pubsub.out" 2>"$work/pubsub.err" &
pids+=($!)
for _ in $(seq 1 400); do grep -q '^listening' "$work/pubsub.out" 2>/dev/null && break; sleep 0.05; done
export PUBSUB_EMULATOR_HOST
PUBSUB_EMULATOR_HOST=$(sed -n 's/^listening //p' "$work/pubsub.out")
[ -n "$PUBSUB_EMULATOR_HOST" ] || { cat "$work/pubsub.err" >&2; fail "fake_pubsub did not start"; }

# One corral on a fresh copy of the subscription, from its start to the last ack (start-up
# included). Sets rate, peak_kb, acked.
run_corral() {  # subscription outputs-yaml
  note "rules: gcpaudit → corral ($1)"
  local start end
  start=$(date +%s.%N)
  start_corral "gcpaudit-$1" batch "ingest:
  gcpaudit:
    - name: bench
      subscription: projects/corral-bench/subscriptions/$1
$2"
  for _ in $(seq 1 2400); do  # at most two minutes
    acked=$(metric_at "$corral_port" 'corral_gcpaudit_acked_total{subscription="bench"}')
    acked=${acked:-0}
    [ "$acked" -ge "$entries" ] && break
    sleep 0.05
  done
  end=$(date +%s.%N)
  peak_kb=$(rss_kb "$corral_pid" VmHWM)
  stop_corral
  rate=$(echo "$entries / ($end - $start)" | bc)
  [ "$acked" -ge "$entries" ] || fail "corral acked $acked of $entries messages ($1)"
}
run_corral spool "outputs: []"
spool_rate=$rate spool_peak=$peak_kb
run_corral output "outputs:
  - {name: sink, type: file, path: /dev/null}"
out_rate=$rate out_peak=$peak_kb

record_check "rules: evaluation cost (\`first\`) / parse only" "$(printf '%.2f' "$(kv "$rules_line" cost_ratio_first)")" '<=' 2
record_check "gcpaudit: Pub/Sub → spool → ack / rules alone" "$(ratio "$spool_rate" "$reference_rate")" '>=' 0.5

cat <<EOF
## Rules: evaluation against parsing, and the gcpaudit ingest (\`bench/rules.sh\`)

In memory, one thread, best of $rounds interleaved rounds: \`corral_rules_bench --rounds $rounds
upstream_gcp_auditlog_rules.yaml rules/gcp_audit.yaml -- compute_instances_insert.json
crm_set_iam_policy.json\` ($(kv "$rules_line" rules) rules). Reference: Boost.JSON parsing each
entry into an arena; measured: fields, rules, an alert per match.

| parse only | fields only | evaluate (\`first\`) | evaluate (\`all\`) | cost ratio \`first\` | cost ratio \`all\` |
|---|---|---|---|---|---|
| $(kv "$rules_line" parse_only_per_s)/s | $(kv "$rules_line" fields_only_per_s)/s | $(kv "$rules_line" evaluate_first_per_s)/s | $(kv "$rules_line" evaluate_all_per_s)/s | $(printf '%.2f' "$(kv "$rules_line" cost_ratio_first)") | $(printf '%.2f' "$(kv "$rules_line" cost_ratio_all)") |

gcpaudit ingest: $entries distinct entries (the two samples alternating, an insertId each; each
fires a built-in rule) published to \`fake_pubsub\` before corral starts; corral pulls, evaluates
\`rules/gcp_audit.yaml\`, spools (\`fsync: batch\`) and acks. Rate: entries over the time from
starting corral to the last ack. Reference: \`corral_rules_bench rules/gcp_audit.yaml\` on the first
5,000 of the same entries. The fake server shares the cores with corral.

| | entries/s | ratio to the rules alone | peak RSS |
|---|---|---|---|
| rules alone (in memory, \`first\`) | $reference_rate | 1.00 | — |
| Pub/Sub → rules → spool → ack | $spool_rate | $(ratio "$spool_rate" "$reference_rate") | $(mb "$spool_peak") MB |
| the same plus a file output (/dev/null) | $out_rate | $(ratio "$out_rate" "$reference_rate") | $(mb "$out_peak") MB |
EOF
