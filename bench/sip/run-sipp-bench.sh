#!/usr/bin/env bash
# SIPp loopback benchmarks for the SIP stack (numbers in bench/README.md).
#   bench/sip/run-sipp-bench.sh [build-dir]   (default build/release)
# Starts sip_test_server (one io thread) with N users, runs SIPp for OPTIONS
# and for REGISTER with digest (401 challenge, then authenticated REGISTER),
# and reports transactions/s, failures and the server's CPU µs per
# transaction from /proc/<pid>/stat (utime+stime), plus RSS per binding.
# The server is pinned to CPU $SERVER_CPU (default 0) and SIPp to $SIPP_CPU
# (default 1) with taskset, so they do not share a core.
# FLOOR=1 runs bench/sip/udp_floor instead of the stack (both scenarios; it
# answers without parsing or verifying anything): the kernel and loopback
# cost any UDP server pays per transaction here.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD="${1:-build/release}"
SERVER="$BUILD/tests/sip/sip_test_server"
OPT_CALLS="${OPT_CALLS:-200000}"
OPT_RATE="${OPT_RATE:-20000}"
REG_USERS="${REG_USERS:-50000}"
REG_RATE="${REG_RATE:-8000}"
SERVER_CPU="${SERVER_CPU:-0}"
SIPP_CPU="${SIPP_CPU:-1}"
SCN="$PWD/tests/sip/scenarios"
TMP=$(mktemp -d)
trap 'kill $SRV 2>/dev/null || true; echo "logs kept in $TMP"' EXIT

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
user_ticks() { awk '{print $14}' "/proc/$1/stat"; }
# Voluntary context switches: how often the server slept waiting for work.
wakeups() { awk '/^voluntary_ctxt_switches/{print $2}' "/proc/$1/status"; }
# Minor page faults: first touches of new memory (bindings, table growth).
faults() { awk '{print $10}' "/proc/$1/stat"; }
rss_kb() { awk '/VmRSS/{print $2}' "/proc/$1/status"; }
HZ=$(getconf CLK_TCK)

echo "machine: $(lscpu | grep 'Model name' | sed 's/ \+/ /g'), $(nproc) cores; $(date -u); load: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ "${FLOOR:-0}" = 1 ]; then
  taskset -c "$SERVER_CPU" "$BUILD/bench/sip/udp_floor" > "$TMP/server.out" &
else
  taskset -c "$SERVER_CPU" "$SERVER" --users "$REG_USERS" --exempt 127.0.0.1 > "$TMP/server.out" &
fi
SRV=$!
for _ in $(seq 100); do grep -q PORT "$TMP/server.out" && break; sleep 0.1; done
PORT=$(awk '/PORT/{print $2}' "$TMP/server.out")
echo "server pid $SRV port $PORT"

run() {  # name, transactions per call, sipp args...
  local name=$1 per=$2; shift 2
  local c0 r0 t0 c1 t1
  c0=$(cpu_ticks $SRV); r0=$(rss_kb $SRV); t0=$(date +%s.%N); u0=$(user_ticks $SRV); w0=$(wakeups $SRV); f0=$(faults $SRV)
  ( cd "$TMP" && exec taskset -c "$SIPP_CPU" sipp 127.0.0.1:"$PORT" -i 127.0.0.1 -ci 127.0.0.1 -buff_size 4194304 -nostdin \
      -timeout 300s -trace_stat -stf "$name.csv" "$@" > "$name.log" 2>&1 ) || echo "sipp exit code $? (see failures)"
  t1=$(date +%s.%N); c1=$(cpu_ticks $SRV); u1=$(user_ticks $SRV); w1=$(wakeups $SRV); f1=$(faults $SRV)
  local ok fail
  ok=$(grep -E "Successful call" "$TMP/$name.log" | awk '{print $(NF)}' | tail -1 || true)
  fail=$(grep -E "Failed call" "$TMP/$name.log" | awk '{print $(NF)}' | tail -1 || true)
  # The final screen's cumulative column is the last number on the line.
  python3 - "$name" "$per" "$c0" "$c1" "$t0" "$t1" "$HZ" "$TMP/$name.csv" "$r0" "$(rss_kb $SRV)" "$u0" "$u1" "$w0" "$w1" "$f0" "$f1" <<'PY'
import sys, csv
name, per, c0, c1, t0, t1, hz, path, r0, r1, u0, u1, w0, w1, f0, f1 = sys.argv[1:]
rows = list(csv.reader(open(path), delimiter=';'))
hdr, last = rows[0], rows[-1]
col = lambda k: last[hdr.index(k)]
ok, failed = int(col('SuccessfulCall(C)')), int(col('FailedCall(C)'))
elapsed = float(col('ElapsedTime(C)').split('\t')[0].split(':')[-1]) if False else float(t1) - float(t0)
cpu = (int(c1) - int(c0)) / int(hz)
tx = ok * int(per)
print(f"{name}: calls ok={ok} failed={failed} wall={elapsed:.1f}s "
      f"calls/s={ok/elapsed:.0f} transactions/s={tx/elapsed:.0f} "
      f"server_cpu={cpu:.2f}s cpu_us_per_call={cpu*1e6/max(ok,1):.1f} cpu_us_per_transaction={cpu*1e6/max(tx,1):.1f} "
      f"rss_delta_kb={int(r1)-int(r0)}")
user = (int(u1) - int(u0)) / int(hz)
print(f"  user_us_per_call={user*1e6/max(ok,1):.1f} sys_us_per_call={(cpu-user)*1e6/max(ok,1):.1f} "
      f"wakeups_per_call={(int(w1)-int(w0))/max(ok,1):.2f} page_faults_per_call={(int(f1)-int(f0))/max(ok,1):.3f}")
PY
  echo "  load average after $name: $(cut -d' ' -f1-3 /proc/loadavg)"
}

# OPTIONS: one non-INVITE transaction per call.
run options 1 -sf "$SCN/options.xml" -m "$OPT_CALLS" -r "$OPT_RATE" -l 20000

# REGISTER with digest: 2 transactions (401 + 200) per authenticated registration.
python3 - "$REG_USERS" > "$TMP/users.csv" <<'PY'
import sys
n = int(sys.argv[1])
print("SEQUENTIAL")
for i in range(n):
    u = 1000 + i
    print(f"{u};[authentication username={u} password=pw{u}]")
PY
run register 2 -sf "$SCN/register_digest.xml" -inf "$TMP/users.csv" -m "$REG_USERS" -r "$REG_RATE" -l 20000
kill -INT $SRV; wait $SRV || true
tail -1 "$TMP/server.out"
