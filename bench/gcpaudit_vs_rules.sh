#!/usr/bin/env bash
# gcpaudit ingest throughput: audit LogEntries per second from a Pub/Sub subscription (the fake
# Pub/Sub server, over gRPC on loopback) through the rules into the spool, against evaluating the
# same rules on the same entries in memory (corral_rules_bench), in the same run.
# Prints both rates and their ratio, and whether every message was acked.
#
# Usage: bench/gcpaudit_vs_rules.sh [--quick] [--entries N]
#   --quick   a small run (harness check, numbers not meaningful)
set -euo pipefail
cd "$(dirname "$0")/.."

entries=100000
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) entries=5000 ;;
    --entries) entries="$2"; shift ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done
command -v curl >/dev/null || { echo "needs curl (scripts/install-deps --test)" >&2; exit 2; }

build=build-release
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCORRAL_BUILD_BENCH=ON -DCORRAL_BUILD_TESTS=ON >/dev/null
cmake --build "$build" --target corral corral_rules_bench fake_pubsub >/dev/null

source bench/lib.sh

# Distinct entries (own insertId each, so dedup keeps none back), half VM creations and half
# project IAM changes: both samples fire a built-in rule, so every entry becomes an alert.
fixtures=../shared/fixtures/gcpaudit
awk -v n="$entries" '
  FNR == 1 { sample[s++] = $0 }
  END {
    for (i = 0; i < n; i++) {
      line = sample[i % s]
      sub(/"insertId":"[^"]*"/, "\"insertId\":\"bench-" i "\"", line)
      print line
    }
  }' "$fixtures/compute_instances_insert.json" "$fixtures/crm_set_iam_policy.json" \
  >"$work/entries.ndjson"

# Reference: the rules alone, in memory, on the same entries.
rules_line=$("$build/corral_rules_bench" rules/gcp_audit.yaml -- "$work/entries.ndjson")
rules_rate=$(sed -n 's/.*evaluate_first_per_s=\([0-9]*\).*/\1/p' <<<"$rules_line")

# Measured: fake Pub/Sub holding every entry as a message (one subscription per run) → corral
# (StreamingPull, rules, spool with fsync: batch) → acks; then the same with a file output.
"$build/tests/fake_pubsub" --topic audit --subscription spool --subscription output --publish "$work/entries.ndjson" \
  >"$work/pubsub.out" 2>"$work/pubsub.err" &
pids+=($!)
for _ in $(seq 1 200); do grep -q '^listening' "$work/pubsub.out" 2>/dev/null && break; sleep 0.05; done
pubsub_addr=$(sed -n 's/^listening //p' "$work/pubsub.out")
[ -n "$pubsub_addr" ] || { echo "fake_pubsub did not start" >&2; cat "$work/pubsub.err" >&2; exit 1; }

# One run of corral against a fresh copy of the subscription: prints "RATE RSS_MB ACKED".
run_corral() {  # name outputs-yaml
  local spool="$work/spool-$1"
  cat >"$work/corral-$1.yaml" <<CONF
listen: {http: 127.0.0.1:0, grpc: 127.0.0.1:0}
spool: {dir: $spool, fsync: batch}
ingest:
  gcpaudit:
    - name: bench
      subscription: projects/corral-bench/subscriptions/$1
$2
CONF
  local start end corral_pid corral_port acked=0 rss_kb
  start=$(date +%s.%N)
  PUBSUB_EMULATOR_HOST=$pubsub_addr "$build/corral" -c "$work/corral-$1.yaml" 2>"$work/corral-$1.err" &
  corral_pid=$!
  pids+=($corral_pid)
  for _ in $(seq 1 200); do grep -q 'msg=listening' "$work/corral-$1.err" && break; sleep 0.05; done
  corral_port=$(sed -n 's/.*msg=listening http=[0-9.]*:\([0-9]*\).*/\1/p' "$work/corral-$1.err")
  [ -n "$corral_port" ] || { echo "corral did not start" >&2; cat "$work/corral-$1.err" >&2; exit 1; }
  for _ in $(seq 1 1200); do  # at most two minutes
    acked=$(metric_at "$corral_port" 'corral_gcpaudit_acked_total{subscription="bench"}')
    acked=${acked:-0}
    [ "$acked" -ge "$entries" ] && break
    sleep 0.05
  done
  end=$(date +%s.%N)
  rss_kb=$(awk '/VmHWM/ {print $2}' "/proc/$corral_pid/status")
  kill "$corral_pid"; wait "$corral_pid" 2>/dev/null || true
  echo "$(echo "$entries / ($end - $start)" | bc) $((rss_kb / 1024)) $acked"
}

read -r spool_rate spool_rss spool_acked < <(run_corral spool "outputs: []")
read -r out_rate out_rss out_acked < <(run_corral output "outputs:
  - {name: sink, type: file, path: /dev/null}")

echo "entries=$entries cores=$(nproc)"
echo "rules only (in memory, rule_matching first):     $rules_rate entries/s"
echo "Pub/Sub → rules → spool → ack:                  $spool_rate entries/s" \
  "(ratio $(echo "scale=2; $spool_rate / $rules_rate" | bc), peak RSS $spool_rss MB)"
echo "the same plus a file output (/dev/null):        $out_rate entries/s" \
  "(ratio $(echo "scale=2; $out_rate / $rules_rate" | bc), peak RSS $out_rss MB)"
echo "(rates include corral's start-up)"
for acked in "$spool_acked" "$out_acked"; do
  [ "$acked" -ge "$entries" ] || { echo "not every message was acked ($acked)" >&2; exit 1; }
done
