# shellcheck shell=bash disable=SC2034  # sets variables for the stages that source it
# Shared by the bench/ stages (sourced, from the repository root): the build, a scratch
# directory, and the one way to start corral, nginx and Alertmanager and to drive load with wrk.
# Every process started goes into `pids` and is stopped at exit, also on failure or Ctrl-C.
#
# Environment (bench/run sets it; the defaults suit a stage run alone):
#   BENCH_BUILD    build directory (default build-release; configured Release when new)
#   BENCH_QUICK    1: short runs and small counts (a harness check; numbers not meaningful)
#   BENCH_TARGETS  file that record_target appends to (default: none, printed to stderr)
#   BENCH_KEEP     1: keep the scratch directory (configs, logs) and say where it is
#   BENCH_BUILT    1: the build is done (bench/run builds once for every stage)

BENCH_BUILD=${BENCH_BUILD:-build-release}
BENCH_QUICK=${BENCH_QUICK:-0}
fixtures=../shared/fixtures

# wrk: the same threads, connections and duration for every target.
WRK_THREADS=2
if [ "$BENCH_QUICK" = 1 ]; then WRK_CONNECTIONS=8 WRK_DURATION=1s; else WRK_CONNECTIONS=32 WRK_DURATION=10s; fi

work=$(mktemp -d /tmp/corral-bench.XXXXXX)
pids=()
cleanup() {
  while [ "${#pids[@]}" -gt 0 ]; do stop_pid "${pids[0]}"; done
  if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "scratch directory kept: $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 141' PIPE
trap 'exit 143' TERM

note() { echo "[bench $(date +%T)] $*" >&2; }
fail() { echo "[bench] FAILED: $*" >&2; exit 1; }

need_tools() {  # tool...
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || fail "needs $tool (scripts/install-deps --test installs it)"
  done
}

# Configures the build directory with the bench programs on (a new one as Release; an existing
# one keeps its build type, so CI can reuse its test build) and builds the given targets.
bench_build() {  # target...
  [ "${BENCH_BUILT:-0}" = 1 ] && return 0
  local type=()
  [ -f "$BENCH_BUILD/CMakeCache.txt" ] || type=(-DCMAKE_BUILD_TYPE=Release)
  cmake -S . -B "$BENCH_BUILD" -G Ninja "${type[@]}" -DCORRAL_BUILD_BENCH=ON >"$work/cmake.log" ||
    { cat "$work/cmake.log" >&2; fail "cmake"; }
  cmake --build "$BENCH_BUILD" --target "$@" >"$work/build.log" ||
    { tail -50 "$work/build.log" >&2; fail "build of $*"; }
}

# Stops a process of `pids` (TERM, then KILL after STOP_GRACE seconds, default 5), reaps it and
# forgets it.
stop_pid() {  # pid
  forget_pid "$1"
  kill "$1" 2>/dev/null || return 0
  local i
  for i in $(seq 1 $((${STOP_GRACE:-5} * 10))); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
forget_pid() {  # pid
  local i rest=()
  for i in "${pids[@]}"; do [ "$i" = "$1" ] || rest+=("$i"); done
  pids=("${rest[@]}")
}

# Runs a command to completion with its output in a file. In the background, so that a signal
# reaches this shell's trap at once (which then stops the command) instead of after it.
run_bg() {  # output-file command...
  local out=$1 pid rc=0
  shift
  "$@" >"$out" &
  pid=$!
  pids+=("$pid")
  wait "$pid" || rc=$?
  forget_pid "$pid"
  return "$rc"
}

# A loopback port nothing listens on, below the kernel's range for outgoing connections (so
# that the many client sockets of a run cannot hold it when it is bound).
free_port() {
  local port low
  read -r low _ </proc/sys/net/ipv4/ip_local_port_range
  [ "$low" -gt 12000 ] || low=61000
  while :; do
    port=$((10000 + RANDOM % (low - 10000)))
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return; }
  done
}

# Waits (at most 10 s) until url answers 2xx; fails, showing the log, when it does not or when
# the process serving it ended.
wait_http() {  # url [pid log]
  for _ in $(seq 1 200); do
    curl -fs -o /dev/null "$1" && return 0
    if [ -n "${2:-}" ] && ! kill -0 "$2" 2>/dev/null; then break; fi
    sleep 0.05
  done
  [ -z "${3:-}" ] || tail -20 "$3" >&2
  fail "no answer from $1"
}

metric_at() {  # http-port name-and-labels -> the sample's value (empty when absent)
  curl -fs "http://127.0.0.1:$1/metrics" | awk -v m="$2" '$1 == m {print $2}'
}

# A field of /proc/PID/status in kB: VmRSS (now) or VmHWM (peak).
rss_kb() {  # pid field
  awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"
}
# CPU time (user + system) the process used so far, in seconds.
cpu_s() {  # pid
  local ticks
  ticks=$(awk '{print $14 + $15}' "/proc/$1/stat")
  echo "scale=3; $ticks / $(getconf CLK_TCK)" | bc
}
mb() {  # kB -> MB with one decimal
  printf '%.1f' "$(echo "$1 / 1024" | bc -l)"
}
ratio() {  # a b -> a/b with two decimals
  printf '%.2f' "$(echo "$1 / $2" | bc -l)"
}
# The value of key=value in a line of such pairs.
kv() {  # line key
  sed -n "s/.*\b$2=\([^ ]*\).*/\1/p" <<<"$1"
}
# True when the comparison holds (bc): e.g. meets 0.45 '>=' 0.5
meets() {  # measured op target
  [ "$(echo "$1 $2 $3" | bc)" = 1 ]
}

# Appends one line to the targets table: what, the measured value, the target, met or not.
record_check() {  # what measured op target   e.g. record_check "ingest / nginx" 0.45 '>=' 0.5
  local met=no
  meets "$2" "$3" "$4" && met=yes
  if [ -n "${BENCH_TARGETS:-}" ]; then
    echo "$1|$2|$3 $4|$met" >>"$BENCH_TARGETS"
  else
    note "target: $1: $2 (target $3 $4, met: $met)"
  fi
}

# The Falco alert every load generator sends (the 1 KB sample, syscall source), with
# "bench.id":"@ID@" first in its output_fields.
falco_alert() {
  local sample="$fixtures/falco/syscall_read_sensitive_file.json"
  [ -f "$sample" ] || fail "missing $sample"
  tr -d '\n' <"$sample" | sed 's/"output_fields":{/"output_fields":{"bench.id":"@ID@",/'
}
# The same alert as Alertmanager receives it on /api/v2/alerts: the rule, priority, source and
# hostname as labels, with the id as a label of its own; the output as an annotation.
alertmanager_alert() {
  local alert; alert=$(falco_alert)
  printf '[{"labels":{"alertname":"%s","rule":"%s","priority":"%s","source":"%s","hostname":"%s","bench_id":"@ID@"},"annotations":{"output":"%s"}}]' \
    "$(json_string "$alert" rule)" "$(json_string "$alert" rule)" "$(json_string "$alert" priority)" \
    "$(json_string "$alert" source)" "$(json_string "$alert" hostname)" "$(json_string "$alert" output)"
}
# The (escaped) value of a top-level string member of a flat JSON text.
json_string() {  # json key
  sed -n "s/.*\"$2\":\"\([^\"]*\)\".*/\1/p" <<<"$1"
}

# A wrk script POSTing `body` with @ID@ replaced by a distinct id per request ("T-N": wrk
# thread T, its Nth request), so that no two requests carry the same alert.
wrk_script() {  # file body
  local prefix=${2%%@ID@*} suffix=${2#*@ID@}
  cat >"$1" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
local prefix, suffix, n = [==[$prefix]==], [==[$suffix]==], 0
function request()
  n = n + 1
  return wrk.format(nil, nil, nil, prefix .. tid .. "-" .. n .. suffix)
end
LUA
}

# Runs wrk against url with the script; sets wrk_rps (requests/s). Any non-2xx answer or socket
# error fails the stage (the number would not mean what it says).
wrk_rate() {  # url script
  run_bg "$work/wrk.out" wrk -t"$WRK_THREADS" -c"$WRK_CONNECTIONS" -d"$WRK_DURATION" -s "$2" "$1" ||
    fail "wrk $1"
  cat "$work/wrk.out" >>"$work/wrk.log"
  if grep -qE "Non-2xx|Socket errors" "$work/wrk.out"; then cat "$work/wrk.out" >&2; fail "errors from $1 under load"; fi
  wrk_rps=$(awk '/Requests\/sec/ {printf "%.0f\n", $2}' "$work/wrk.out")
}
WRK_COMMAND() { echo "wrk -t$WRK_THREADS -c$WRK_CONNECTIONS -d$WRK_DURATION"; }

# nginx answering `return 200` on 127.0.0.1: the machine's HTTP ceiling, and a webhook sink.
start_nginx() {  # -> nginx_port, nginx_pid
  need_tools nginx
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
  client_max_body_size 64m;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$nginx_port;
    location / { return 200 "ok"; }
  }
}
CONF
  nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" &
  nginx_pid=$!
  pids+=("$nginx_pid")
  wait_http "http://127.0.0.1:$nginx_port/" "$nginx_pid" "$work/nginx/error.log"
}

# corral on ephemeral loopback ports with its own spool (`fsync`; segments kept for `retain`,
# default 0s: deleted as soon as every output is past them) and the rest of its config from
# `yaml` (outputs, ingest). Waits until it serves. Sets corral_pid, corral_port (HTTP),
# corral_grpc_port.
start_corral() {  # name fsync yaml [retain]
  local conf="$work/$1.yaml" log="$work/$1.log"
  rm -rf "$work/$1-spool"
  cat >"$conf" <<CONF
listen: {http: 127.0.0.1:0, grpc: 127.0.0.1:0}
spool: {dir: $work/$1-spool, fsync: $2, retain: ${4:-0s}}
$3
CONF
  "$BENCH_BUILD/corral" -c "$conf" 2>"$log" &
  corral_pid=$!
  pids+=("$corral_pid")
  for _ in $(seq 1 400); do
    grep -qs 'msg=listening' "$log" && break
    kill -0 "$corral_pid" 2>/dev/null || break
    sleep 0.05
  done
  local line; line=$(grep -m1 'msg=listening' "$log") || { cat "$log" >&2; fail "corral ($1) did not start"; }
  corral_port=$(sed -n 's/.* http=[0-9.]*:\([0-9]*\).*/\1/p' <<<"$line")
  corral_grpc_port=$(sed -n 's/.* grpc=[0-9.]*:\([0-9]*\).*/\1/p' <<<"$line")
  wait_http "http://127.0.0.1:$corral_port/healthz" "$corral_pid" "$log"
}

# VmRSS of a process that just started, once its start-up allocations settled.
idle_rss_kb() {  # pid
  sleep 0.5
  rss_kb "$1" VmRSS
}

# Debian's prometheus-alertmanager on loopback: one receiver that notifies nothing, its own
# storage, clustering off. Sets am_port, am_pid.
start_alertmanager() {
  need_tools prometheus-alertmanager
  am_port=$(free_port)
  mkdir -p "$work/alertmanager"
  cat >"$work/alertmanager/alertmanager.yml" <<CONF
route:
  receiver: discard
receivers:
  - name: discard
CONF
  prometheus-alertmanager --config.file="$work/alertmanager/alertmanager.yml" \
    --storage.path="$work/alertmanager/data" --web.listen-address="127.0.0.1:$am_port" \
    --cluster.listen-address= --log.level=warn 2>"$work/alertmanager/log" &
  am_pid=$!
  pids+=("$am_pid")
  wait_http "http://127.0.0.1:$am_port/-/ready" "$am_pid" "$work/alertmanager/log"
}

# Sets accepted: the alerts corral accepted over HTTP, once the count stopped changing (requests
# still in flight when the load generator stopped are answered after it).
settled_accepted() {
  local before
  accepted=$(metric_at "$corral_port" 'corral_inputs_total{source="http",status="accepted"}')
  for _ in $(seq 1 50); do
    before=$accepted
    sleep 0.2
    accepted=$(metric_at "$corral_port" 'corral_inputs_total{source="http",status="accepted"}')
    [ "$accepted" = "$before" ] && break
  done
}

# Waits (at most two minutes) until corral has delivered to `output` every alert it accepted
# over HTTP; sets accepted and delivered.
wait_delivered() {  # output
  settled_accepted
  for _ in $(seq 1 1200); do
    delivered=$(metric_at "$corral_port" "corral_outputs_total{output=\"$1\",status=\"delivered\"}")
    delivered=${delivered:-0}
    [ "$delivered" = "$accepted" ] && break
    sleep 0.1
  done
}

stop_corral() {
  stop_pid "$corral_pid"
}
