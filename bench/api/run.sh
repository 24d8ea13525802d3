#!/usr/bin/env bash
# Whole-system benchmark of the HTTP API with wrk:
#   1. authenticated GET /api/v1/me   (token cache hot path)
#   2. POST /api/v1/auth/login        (argon2id at the production cost)
# The server is pinned to CPU 0 with one HTTP thread; wrk runs on CPU 1.
#
#   bench/api/run.sh [build-dir] [seconds]
set -euo pipefail
BUILD=${1:-build/release}
SECONDS_PER_RUN=${2:-15}
HOTLINE="$BUILD/src/app/hotline"
WORK=$(mktemp -d /tmp/hotline-bench-XXXXXX)
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT

cat > "$WORK/hotline.toml" <<TOML
[http]
listen = "127.0.0.1:0"
threads = 1
[storage]
url = "sqlite://$WORK/hotline.db"
[log]
level = "warn"
access = false
[auth]
max_failures_per_source = 100000
TOML
"$HOTLINE" --config "$WORK/hotline.toml" tenant add bench >/dev/null
PW=$("$HOTLINE" --config "$WORK/hotline.toml" user add bench admin --role admin | sed -n 's/^password: //p')

taskset -c 0 "$HOTLINE" --config "$WORK/hotline.toml" serve > "$WORK/serve.out" 2> "$WORK/serve.err" &
SERVER=$!
for _ in $(seq 100); do grep -q listening "$WORK/serve.out" && break; sleep 0.1; done
URL=$(sed -n 's/^listening http=//p' "$WORK/serve.out")
BODY="{\"tenant\":\"bench\",\"username\":\"admin\",\"password\":\"$PW\"}"
TOKEN=$(curl -s -X POST "$URL/api/v1/auth/login" -H 'Content-Type: application/json' -d "$BODY" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')

cpu_ticks() { awk '{print $14 + $15}' "/proc/$SERVER/stat"; }
run() {  # name, wrk args...
  local name=$1; shift
  local t0 c0 t1 c1
  t0=$(date +%s.%N); c0=$(cpu_ticks)
  taskset -c 1 wrk --latency "$@" > "$WORK/$name.txt"
  t1=$(date +%s.%N); c1=$(cpu_ticks)
  local rps p99 cpu
  rps=$(sed -n 's/^Requests\/sec: *//p' "$WORK/$name.txt")
  p99=$(awk '$1=="99%"{print $2}' "$WORK/$name.txt")
  cpu=$(python3 -c "print(f'{($c1-$c0)/$(getconf CLK_TCK)/($t1-$t0)*100:.0f}')")
  echo "$name: $rps req/s, p99 $p99, server CPU $cpu% of one core"
  grep -E "Non-2xx|Socket errors" "$WORK/$name.txt" || true
}

echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; $(date -u +%Y-%m-%d)"
run me -t1 -c32 -d"${SECONDS_PER_RUN}s" -H "Authorization: Bearer $TOKEN" "$URL/api/v1/me"
cat > "$WORK/login.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '$BODY'
LUA
run login -t1 -c4 -d"${SECONDS_PER_RUN}s" -s "$WORK/login.lua" "$URL/api/v1/auth/login"
