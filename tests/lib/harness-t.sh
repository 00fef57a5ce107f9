#!/bin/sh
# harness-t.sh - self-test of the end-to-end test tools: tap.sh, sshd.sh,
# nolisten.sh and the fake app server (locally and as an sshd subsystem).
#
# Run by `make check` (top_srcdir and top_builddir come from the Makefile) or by
# hand from the build directory: ../tests/lib/harness-t.sh

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$PWD}"
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/sshd.sh"
. "$top_srcdir/tests/lib/nolisten.sh"

FAKE=${FAKE_APP_SERVER:-$top_builddir/tests/fake-app-server}

sshd_available || skip_all "$SSHD_WHY"
command -v python3 >/dev/null 2>&1 || skip_all "python3 not installed"
[ -x "$FAKE" ] || skip_all "fake app server not built: $FAKE"
case $FAKE in
/*) ;;
*) FAKE=$(cd "$(dirname "$FAKE")" && pwd)/$(basename "$FAKE") ;;
esac

# drive SCENARIO ARG CMD...: plays SCENARIO against the app server that CMD starts
# (JSONL on its stdin/stdout) and checks every message; prints what went wrong.
drive_py='
import hashlib, json, os, select, subprocess, sys, time

scenario, arg, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
buf = b""

def die(msg):
    print(msg)
    p.kill()
    sys.exit(1)

def send(obj):
    p.stdin.write((json.dumps(obj) + "\n").encode() if not isinstance(obj, bytes) else obj)

def recv(timeout=20):
    """The next message, or None at EOF."""
    global buf
    deadline = time.time() + timeout
    while b"\n" not in buf:
        left = deadline - time.time()
        if left <= 0 or not select.select([p.stdout], [], [], left)[0]:
            die("timed out waiting for a message")
        chunk = os.read(p.stdout.fileno(), 1 << 20)
        if not chunk:
            if buf:
                die("EOF inside a line: %r" % buf[:200])
            return None
        buf += chunk
    line, buf = buf.split(b"\n", 1)
    try:
        return json.loads(line)
    except ValueError:
        die("not JSON: %r" % line[:200])

def expect_reply(rid):
    m = recv()
    if m is None or m.get("id") != rid or "method" in m:
        die("wanted the reply to %r, got %r" % (rid, m))
    return m

def expect_error(rid, msg):
    m = expect_reply(rid)
    e = m.get("error") or {}
    if e.get("code") != -32600 or e.get("message") != msg:
        die("wanted error -32600 %r for %r, got %r" % (msg, rid, m))

def handshake():
    send({"id": 1, "method": "initialize",
          "params": {"clientInfo": {"name": "harness", "version": "1"}}})
    r = expect_reply(1)["result"]
    if r.get("userAgent") != "fake-app-server/0.1" or r.get("platformFamily") != "unix":
        die("bad initialize result %r" % r)
    send({"method": "initialized"})
    send({"id": 2, "method": "thread/start", "params": {}})
    tid = expect_reply(2)["result"]["thread"]["id"]
    m = recv()
    if m.get("method") != "thread/started" or m["params"]["thread"]["id"] != tid \
            or not isinstance(m.get("emittedAtMs"), int):
        die("wanted thread/started, got %r" % m)
    return tid

def turn(rid, tid, text):
    send({"id": rid, "method": "turn/start",
          "params": {"threadId": tid, "input": [{"type": "text", "text": text}]}})
    r = expect_reply(rid)
    if r.get("result", {}).get("turn", {}).get("status") != "inProgress":
        die("bad turn/start reply %r" % r)
    return r["result"]["turn"]["id"]

def collect(until="turn/completed", on_request=None):
    """Messages up to and including method `until` (or EOF)."""
    out = []
    while True:
        m = recv()
        if m is None:
            return out
        out.append(m)
        if "id" in m and "method" in m and on_request:
            on_request(m)
        if m.get("method") == until:
            return out

def check_deltas(msgs, n):
    ks = [int(m["params"]["delta"].split()[0][1:]) for m in msgs
          if m.get("method") == "item/agentMessage/delta"]
    if ks != list(range(n)):
        die("deltas out of order or missing: %d seen, first bad at %r" % (len(ks),
            next((i for i, k in enumerate(ks) if k != i), len(ks))))

def methods(msgs):
    return [m.get("method") for m in msgs if m.get("method") != "item/agentMessage/delta"]

if scenario == "errors":
    send({"id": 1, "method": "thread/start", "params": {}})
    expect_error(1, "Not initialized")
    send({"id": 2, "method": "initialize"})
    expect_error(2, "missing field `params`")
    send(b"this is not json\n")
    send({"id": 3, "method": "initialize", "params": {"clientInfo": {"name": "h"}}})
    expect_reply(3)["result"]
    send({"id": "s4", "method": "initialize", "params": {"clientInfo": {"name": "h"}}})
    expect_error("s4", "Already initialized")
    send({"id": 5, "method": "no/such/method", "params": {}})
    expect_error(5, "unknown method")
elif scenario == "deltas":
    tid = handshake()
    n = int(arg)
    turn_id = turn(3, tid, "please deltas=%d" % n)
    msgs = collect()
    check_deltas(msgs, n)
    want = ["turn/started", "item/started", "item/completed",
            "thread/tokenUsage/updated", "turn/completed"]
    if methods(msgs) != want:
        die("wrong notifications %r" % methods(msgs))
    last = msgs[-1]["params"]["turn"]
    if last["id"] != turn_id or last["status"] != "completed":
        die("bad turn/completed %r" % msgs[-1])
    if any("emittedAtMs" not in m for m in msgs):
        die("a notification without emittedAtMs")
elif scenario == "approval":
    tid = handshake()
    for rid, decision, want_id in ((3, "accept", 0), (4, "decline", 1)):
        turn(rid, tid, "approval=1 deltas=3")
        seen = []
        def answer(m):
            seen.append(m)
            send({"id": m["id"], "result": {"decision": decision}})
        msgs = collect(on_request=answer)
        if len(seen) != 1 or seen[0]["id"] != want_id or \
                seen[0]["method"] != "item/commandExecution/requestApproval" or \
                seen[0]["params"].get("command") != "echo hi":
            die("bad approval request(s) %r" % seen)
        out = [m["params"]["delta"] for m in msgs
               if m.get("method") == "item/commandExecution/outputDelta"]
        done = [m["params"]["item"]["status"] for m in msgs
                if m.get("method") == "item/completed" and
                m["params"]["item"]["type"] == "commandExecution"]
        if decision == "accept" and (out != ["hi\n"] or done != ["completed"]):
            die("accepted command: output %r, status %r" % (out, done))
        if decision == "decline" and (out != [] or done != ["declined"]):
            die("declined command: output %r, status %r" % (out, done))
        check_deltas(msgs, 3)
elif scenario == "crash":
    tid = handshake()
    # A positive status is crash=5, a negative one (a signal) abort=5.
    turn(3, tid, "%s=5 deltas=100" % ("crash" if int(arg) > 0 else "abort"))
    msgs = collect(until=None)
    check_deltas(msgs, 5)
    if "turn/completed" in methods(msgs):
        die("turn/completed after a crash")
    rc = p.wait(timeout=10)
    if rc != int(arg):
        die("exit status %r, wanted %s" % (rc, arg))
elif scenario == "big":
    tid = handshake()
    turn(3, tid, "big=%s deltas=2" % arg)
    msgs = collect()
    big = [m for m in msgs if m.get("method") == "item/commandExecution/outputDelta"]
    if len(big) != 1:
        die("%d big messages" % len(big))
    d = big[0]["params"]["delta"]
    if hashlib.sha256(d.encode()).hexdigest() != big[0]["params"]["sha256"]:
        die("sha256 mismatch on %d bytes" % len(d))
    print("big delta: %d bytes" % len(d))
    check_deltas(msgs, 2)
elif scenario == "interrupt":
    tid = handshake()
    turn_id = turn(3, tid, "deltas=100000 rate=500")
    m = recv()
    while m.get("method") != "item/agentMessage/delta":
        m = recv()
    send({"id": 4, "method": "turn/interrupt",
          "params": {"threadId": tid, "turnId": turn_id}})
    msgs = collect()
    if not any(x.get("id") == 4 and "result" in x for x in msgs):
        die("no reply to turn/interrupt")
    if msgs[-1]["params"]["turn"]["status"] != "interrupted":
        die("turn ended %r" % msgs[-1])
    n = sum(1 for x in msgs if x.get("method") == "item/agentMessage/delta")
    if n > 5000:
        die("%d deltas after the interrupt" % n)
elif scenario == "rate":
    # Counts lines without parsing them: the fake, not json.loads, is measured.
    tid = handshake()
    n = int(arg)
    t0 = time.time()
    turn(3, tid, "deltas=%d" % n)
    lines, tail = buf.count(b"\n"), buf
    while b"turn/completed" not in tail:
        chunk = os.read(p.stdout.fileno(), 1 << 20)
        if not chunk:
            die("EOF before turn/completed")
        lines += chunk.count(b"\n")
        tail = tail[-100:] + chunk
    dt = time.time() - t0
    if lines < n:
        die("only %d lines for %d deltas" % (lines, n))
    print("%.0f deltas/s (%d in %.3f s)" % (n / dt, n, dt))
else:
    die("unknown scenario " + scenario)

p.stdin.close()
rc = p.wait(timeout=10)
if scenario not in ("crash",) and rc != 0:
    die("app server exited with %r after stdin EOF" % rc)
print("OK")
'

drive() {
	timeout -k 5 120 python3 -c "$drive_py" "$@"
}

plan 26

tap_tmpdir T

# ---- sshd.sh -------------------------------------------------------------------
sshd_start "$T/sshd" "Subsystem echo /bin/cat" "Subsystem fake $FAKE"
ok $? "sshd_start: private sshd on 127.0.0.1 port ${SSHD_PORT:-?}" ||
	{ sshd_log_tail; bail "no sshd"; }
run_ok "ssh -F \$SSH_CONFIG testhost true" sshd_run true
out=$(echo "one line through the channel" | sshd_subsystem echo 2>&1)
is "$out" "one line through the channel" "ssh -s testhost echo echoes a line"
run_fail "an unknown host key is refused" \
	sshd_ssh -o UserKnownHostsFile=/dev/null testhost true
out=$(sshd_run 'echo "$SSH_CONNECTION"' 2>&1)
like "$out" "^127\.0\.0\.1 [0-9]+ 127\.0\.0\.1 $SSHD_PORT\$" "sessions arrive on \$SSHD_PORT"

# ---- nolisten.sh -----------------------------------------------------------------
mkfifo "$T/fifo"
"$FAKE" <"$T/fifo" >"$T/fake.out" 2>"$T/fake.err" &
fake_pid=$!
exec 8>"$T/fifo"
echo '{"id":1,"method":"initialize","params":{"clientInfo":{"name":"h"}}}' >&8
n=0
while ! grep -q userAgent "$T/fake.out" && [ $n -lt 100 ]; do
	sleep 0.05
	n=$((n + 1))
done
nolisten_check "$fake_pid"
ok $? "nolisten_check passes for the fake app server"
nolisten_check_user_procs fake-app-server
st=$?
case " $NOLISTEN_FOUND " in
*" $fake_pid "*) ok "$st" "nolisten_check_user_procs finds it by name and passes" ;;
*) ok 1 "nolisten_check_user_procs finds it by name (found: $NOLISTEN_FOUND)" ;;
esac
exec 8>&-
wait "$fake_pid"
is "$?" 0 "the fake exits 0 on stdin EOF"

# wait_listening PID: until nolisten_check fails for PID (5 s at most).
wait_listening() {
	_n=0
	while nolisten_check -c "$1" >/dev/null 2>&1 && [ $_n -lt 100 ]; do
		sleep 0.05
		_n=$((_n + 1))
	done
}

python3 -m http.server --bind 127.0.0.1 0 >/dev/null 2>&1 &
http_pid=$!
at_exit "kill $http_pid 2>/dev/null"
wait_listening "$http_pid"
out=$(nolisten_check "$http_pid")
st=$?
[ "$st" != 0 ]
ok $? "nolisten_check fails for a TCP listener"
like "$out" "pid $http_pid .*tcp LISTEN 127\.0\.0\.1:[0-9]+" "and names it"
kill "$http_pid"

python3 -c 'import socket, time
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind(("::1", 0))
time.sleep(60)' &
udp_pid=$!
at_exit "kill $udp_pid 2>/dev/null"
wait_listening "$udp_pid"
run_fail "nolisten_check fails for a bound UDP socket" nolisten_check "$udp_pid"
kill "$udp_pid"

sh -c 'python3 -m http.server --bind 127.0.0.1 0 >/dev/null 2>&1 & echo $! >"$1"; wait' \
	sh "$T/child.pid" &
parent_pid=$!
at_exit "kill $parent_pid 2>/dev/null"
wait_listening "$parent_pid"
run_ok "without -c the parent alone passes" nolisten_check "$parent_pid"
run_fail "with -c its listening child is found" nolisten_check -c "$parent_pid"
kill "$(cat "$T/child.pid")" "$parent_pid" 2>/dev/null

run_fail "nolisten_check fails for the sshd listener itself" nolisten_check "$SSHD_PID"

# ---- the fake app server ---------------------------------------------------------
run_ok "fake: handshake errors like the real server" drive errors - "$FAKE"
run_ok "fake: 1000 deltas in order, then turn/completed" drive deltas 1000 "$FAKE"
run_ok "fake: approval accepted and declined" drive approval - "$FAKE"
run_ok "fake: crash=5 sends 5 deltas and exits 3" drive crash 3 "$FAKE"
run_ok "fake: abort=5 sends 5 deltas and dies of SIGKILL" drive crash -9 "$FAKE"
run_ok "fake: big=8M arrives whole with a matching sha256" drive big 8M "$FAKE"
run_ok "fake: turn/interrupt ends the turn as interrupted" drive interrupt - "$FAKE"

"$FAKE" --exit-at-start 7 </dev/null >"$T/out" 2>"$T/err"
is "$?" 7 "fake: --exit-at-start 7 exits 7"
is "$(cat "$T/err")" "fake: failing on purpose" "and says why on stderr"
out=$(echo '{"id":1,"method":"initialize","params":{"clientInfo":{}}}' |
	"$FAKE" --banner "Welcome to the devbox" | head -n 1)
is "$out" "Welcome to the devbox" "fake: --banner comes before any message"

if drive rate 200000 "$FAKE" >"$T/rate" 2>&1; then
	diag "fake app server, local pipe: $(head -n 1 "$T/rate")"
fi

# ---- the fake behind sshd ----------------------------------------------------------
run_ok "fake as an sshd subsystem: 1000 deltas in order" \
	drive deltas 1000 ssh -F "$SSH_CONFIG" -s testhost fake
run_ok "fake as an sshd subsystem: crash=5 gives ssh exit status 3" \
	drive crash 3 ssh -F "$SSH_CONFIG" -s testhost fake
