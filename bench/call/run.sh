#!/usr/bin/env bash
# Whole-system call benchmark: SIPp callers → IVR (menu, digit 1 by SIP INFO)
# → queue "sales" → SIPp agents answering at once → 5 s talk → caller BYE.
#
#   bench/call/run.sh <build-dir> [rate calls/s] [seconds] [agents]
#
# Prints calls attempted / successful / failed (SIPp's counts), Hotline's CPU
# time per call (utime+stime from /proc over the run), its peak RSS and the
# RSS per concurrent call, and the offer latency (queued → agent INVITE sent,
# from the call records). Results go into bench/README.md by hand.
set -euo pipefail
BUILD=${1:?build dir}
RATE=${2:-50}
SECS=${3:-30}
# Enough agents for every call in talk (5 s) plus ringing and slack.
AGENTS=${4:-$((RATE * 8 > 600 ? RATE * 8 : 600))}
H="$(cd "$BUILD" && pwd)/src/app/hotline"
SRC="$(cd "$(dirname "$0")/../.." && pwd)"
W=$(mktemp -d /tmp/hotline-bench-call.XXXXXX)
# KEEP=1 keeps the work directory (logs, SIPp errors); PERF=1 records a
# `perf` profile of Hotline during the calls into $W/perf.data.
trap 'kill $(jobs -p) 2>/dev/null || true; sleep 1; [ -n "${KEEP:-}" ] && echo "kept $W" || rm -rf "$W"' EXIT
cd "$W"
cat > hotline.toml <<TOML
[http]
listen = "127.0.0.1:18480"
[storage]
url = "sqlite://$W/db.sqlite"
[sip]
udp = "127.0.0.1:15460"
tcp = ""
default_tenant = "bench"
qualify_interval_s = 0
max_expires_s = 7200
[media]
rtp_port_min = 20000
rtp_port_max = 39999
timeout_s = 0
[auth]
kdf_opslimit = 1
kdf_memlimit_kib = 8192
[log]
level = "warn"
access = false
TOML
"$H" --config hotline.toml tenant add bench >/dev/null
PW=$("$H" --config hotline.toml user add bench admin --role admin | sed -n 's/^password: //p')
"$H" --config hotline.toml demo seed bench >/dev/null
"$H" --config hotline.toml serve > serve.log 2>&1 &
HPID=$!
for _ in $(seq 1 50); do curl -sf http://127.0.0.1:18480/healthz >/dev/null && break; sleep 0.2; done
TOKEN=$(curl -sf -X POST http://127.0.0.1:18480/api/v1/auth/login -H 'Content-Type: application/json' \
  -d "{\"tenant\":\"bench\",\"username\":\"admin\",\"password\":\"$PW\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
# No welcome prompt; the menu (a ~1 s barge-in window) leads to sales; no
# periodic announcements; agents are released at once (no wrap-up). Then
# AGENTS extensions and agents (skill sales), over one keep-alive connection.
python3 - "$TOKEN" "$AGENTS" <<'PY'
import http.client, json, sys
tok, n = sys.argv[1], int(sys.argv[2])
conn = http.client.HTTPConnection('127.0.0.1', 18480)
def req(m, path, body=None):
    conn.request(m, path, body=json.dumps(body) if body is not None else None,
                 headers={'Authorization': 'Bearer ' + tok, 'Content-Type': 'application/json'})
    r = conn.getresponse()
    data = r.read()
    if r.status >= 300: raise SystemExit(f'{m} {path}: {r.status} {data[:300]}')
    return json.loads(data) if data else None
f = [x for x in req('GET', '/api/v1/flows')['items'] if x['name'] == 'main'][0]
f['definition']['nodes']['welcome'] = {'type': 'set', 'next': 'vip'}
fid = f['id']
for k in ('id', 'version', 'created_ms', 'updated_ms'): f.pop(k, None)
req('PUT', '/api/v1/flows/%d' % fid, f)
q = [x for x in req('GET', '/api/v1/queues')['items'] if x['name'] == 'sales'][0]
qid = q['id']
for k in ('id', 'version', 'created_ms', 'updated_ms'): q.pop(k, None)
q.update({'wrap_up_s': 0, 'announce_interval_s': 0, 'record': False})
req('PUT', '/api/v1/queues/%d' % qid, q)
with open('agents.csv', 'w') as out:
    out.write('SEQUENTIAL\n')
    for i in range(1, n + 1):
        ext = str(20000 + i)
        req('POST', '/api/v1/extensions', {'extension': ext, 'password': 'secret-' + ext})
        req('POST', '/api/v1/agents', {'name': 'Bench %d' % i, 'extension': ext,
                                      'skills': [{'skill': 'sales', 'level': 5}]})
        out.write(f'{ext};[authentication username={ext} password=secret-{ext}]\n')
PY
# One SIPp registers every agent (each registration stays up for the run)
# and answers every offer through its out-of-call scenario.
sipp 127.0.0.1:15460 -i 127.0.0.1 -mi 127.0.0.1 -p 15461 -mp 40000 -sf "$SRC/tests/call/scenarios/agent_register.xml" \
  -oocsf "$SRC/bench/call/agent_bench.xml" -inf agents.csv -m "$AGENTS" -r 200 -l "$AGENTS" -d $(( (SECS + 60) * 1000 )) \
  -rtp_echo -buff_size 4194304 -nostdin -max_socket 65000 -bg -trace_err -error_file agents_err.log > agents.out 2>&1 || true
grep -q "Background mode" agents.out || { cat agents.out; exit 1; }  # SIPp -bg exits non-zero
sleep $(( AGENTS / 200 + 3 ))
python3 - "$TOKEN" <<'PY'
import json, sys, urllib.request
tok = sys.argv[1]
def req(m, path, body=None):
    r = urllib.request.Request('http://127.0.0.1:18480' + path, method=m,
        data=json.dumps(body).encode() if body is not None else None,
        headers={'Authorization': 'Bearer ' + tok, 'Content-Type': 'application/json'})
    return json.load(urllib.request.urlopen(r))
n = 0
for a in req('GET', '/api/v1/agents')['items']:
    req('PUT', '/api/v1/agents/%d/status' % a['id'], {'status': 'ready'})
    n += 1
print('agents ready:', n)
PY
cpu() { awk '{print $14 + $15}' /proc/$HPID/stat; }
RSS0=$(awk '/VmRSS/ {print $2}' /proc/$HPID/status)
C0=$(cpu)
if [ -n "${PERF:-}" ]; then perf record ${PERF_ARGS:--g} -o perf.data -p "$HPID" -- sleep "$SECS" > perf.out 2>&1 & fi
sipp 127.0.0.1:15460 -i 127.0.0.1 -mi 127.0.0.1 -p 15462 -mp 50000 -sf "$SRC/bench/call/caller_bench.xml" -s 400 \
  -key caller 13900000000 -key caller_name Bench -key digit 1 -r "$RATE" -m $(( RATE * SECS )) -d 5000 \
  -buff_size 4194304 -nostdin -max_socket 65000 -timeout $(( SECS + 60 ))s -trace_stat -fd 1 -stf callers.csv \
  -trace_err -error_file callers_err.log > callers.out 2>&1 || true
C1=$(cpu)
TICKS=$(getconf CLK_TCK)
RSS=$(awk '/VmHWM/ {print $2}' /proc/$HPID/status)
python3 - "$W/callers.csv" "$C0" "$C1" "$TICKS" "$RSS" "$RATE" "$TOKEN" "$RSS0" <<'PY'
import csv, json, sys, urllib.request
rows = list(csv.reader(open(sys.argv[1]), delimiter=';'))
h, last = rows[0], rows[-1]
get = lambda k: int(last[h.index(k)])
ok, failed, total = get('SuccessfulCall(C)'), get('FailedCall(C)'), get('TotalCallCreated')
cpu_s = (float(sys.argv[3]) - float(sys.argv[2])) / float(sys.argv[4])
rate = int(sys.argv[6])
print(f'calls created {total}, successful {ok}, failed {failed}, retransmissions {get("Retransmissions(C)")}')
# Creation rate over the seconds in which calls were being created (SIPp's
# cumulative rate also counts the last calls' 6 s), and the peak of calls in progress.
per_s = [(int(r[h.index('OutgoingCall(C)')]), int(r[h.index('CurrentCall')])) for r in rows[1:]]
created = [c for c, _ in per_s]
secs = sum(1 for a, b in zip(created, created[1:]) if b > a)
print(f'created at {total / max(secs, 1):.0f} calls/s over {secs} s; peak {max(n for _, n in per_s)} calls in progress')
print(f'hotline CPU {cpu_s:.2f} s over the run = {1000 * cpu_s / max(total, 1):.2f} ms per call')
conc = rate * 6  # about 6 s per call (1 s IVR + 5 s talk)
grow = int(sys.argv[5]) - int(sys.argv[8])
print(f'RSS before calls {int(sys.argv[8]) / 1024:.1f} MiB, peak {int(sys.argv[5]) / 1024:.1f} MiB: '
      f'{grow / conc:.1f} KiB per concurrent call ({conc} concurrent)')
tok = sys.argv[7]
lat = []
cursor = None
for _ in range(200):
    url = 'http://127.0.0.1:18480/api/v1/calls?limit=1000' + (('&cursor=' + cursor) if cursor else '')
    r = json.load(urllib.request.urlopen(urllib.request.Request(url, headers={'Authorization': 'Bearer ' + tok})))
    lat += [c['offered_ms'] - c['queued_ms'] for c in r['items'] if c['offered_ms'] and c['queued_ms']]
    cursor = r.get('next_cursor')
    if not cursor: break
lat.sort()
if lat:
    p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
    print(f'offer latency (queued -> agent INVITE) p50 {p(0.5)} ms, p99 {p(0.99)} ms over {len(lat)} calls (ms resolution)')
PY
