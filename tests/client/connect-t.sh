#!/bin/sh
# connect-t.sh - end-to-end tests of codex-connect against private OpenSSH sshds on
# 127.0.0.1 running codex-subsystem with the fake app server: ssh_config aliases
# (Include, --list, "did you mean"), ProxyJump, --stdio (a whole turn, a local
# parse error, non-messages and bad UTF-8 answered locally, --plain, --no-compress),
# the unix socket front end (WebSocket and JSONL clients at once, modes, Origin
# refused, split first bytes), exec (text, approvals declined, --yes, answered on a
# terminal, --json, a backend crash, Ctrl-C), status, a link cut mid-turn by a test
# relay (reset and black-holed, every delta exactly once), codex-subsystem killed
# mid-turn, --plain losing its session, and giving up when the host stays
# unreachable. No process of ours may listen.
#
# known_hosts and authentication are covered by sshconn-t.sh.
#
# Run by `make check`, or by hand from the build directory:
#   top_srcdir=.. top_builddir=$PWD sh ../tests/client/connect-t.sh
# Every codex-connect runs under timeout(1), most in a new session (setsid) so
# nothing can reach the terminal the test was started from.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$PWD}"
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/sshd.sh"
. "$top_srcdir/tests/lib/nolisten.sh"

B=$top_builddir
CONNECT=$B/client/codex-connect
SUB=$B/subsystem/codex-subsystem
FAKE=$B/tests/fake-app-server
TTY=$top_srcdir/tests/client/tty.py
DRIVE=$top_srcdir/tests/client/drive.py
TO=${CONNECT_TIMEOUT:-30}

sshd_available || skip_all "$SSHD_WHY"
for f in "$CONNECT" "$SUB" "$FAKE"; do
	[ -x "$f" ] || skip_all "not built: $f"
done
command -v python3 >/dev/null 2>&1 || skip_all "python3 not installed"
command -v setsid >/dev/null 2>&1 || skip_all "setsid(1) not installed"

# Nothing of the caller's may leak in.
unset SSH_AUTH_SOCK SSH_AGENT_PID SSH_ASKPASS SSH_ASKPASS_REQUIRE DISPLAY \
    WAYLAND_DISPLAY CODEX_CLI

tap_tmpdir T
cat >"$T/conf" <<CONF
Backend fake $FAKE
DefaultBackend fake
LoginShell no
RuntimeDir $T/run-%i
JournalDir $T/journal-%i
LogFile $T/log-%i
IdleTimeout 60s
CONF
at_exit "$SUB stop -f $T/conf >/dev/null 2>&1"

# ---- two sshds (a jump host, then the main one), a relay in front of the main --

sshd_start "$T/jump" || bail "cannot start the jump sshd"
JUMP_PORT=$SSHD_PORT
JUMP_DIR=$SSHD_DIR
JUMP_LOG=$SSHD_LOG
sshd_start "$T/sshd" "Subsystem codex $SUB -f $T/conf" || bail "cannot start sshd"
KEY=$SSHD_CLIENT_KEY
cat "$KEY.pub" >>"$JUMP_DIR/authorized_keys"

relay_start "$T" 240 || bail "the relay did not start"

# relay_cmd WORDS...: makes the relay obey WORDS and waits for its ack (drive.py
# sends it commands too: count the acks so far).
relay_cmd() {
	_relay_n=$(($(grep -c '^ack ' "$T/relay.log") + 1))
	echo "$*" >"$T/relay.ctl"
	kill -USR1 "$RELAY_PID"
	_i=0
	while ! grep -q "^ack $_relay_n " "$T/relay.log" && [ $_i -lt 100 ]; do
		sleep 0.05
		_i=$((_i + 1))
	done
}

hostkey=$(cut -d' ' -f1,2 "$SSHD_DIR/host_ed25519.pub")
{
	echo "[127.0.0.1]:$SSHD_PORT $hostkey"
	echo "[127.0.0.1]:$RELAY_PORT $hostkey"
	echo "[127.0.0.1]:$JUMP_PORT $(cut -d' ' -f1,2 "$JUMP_DIR/host_ed25519.pub")"
} >"$T/known_hosts"

# The ssh_config under test: the aliases live in an Included file; patterns
# around them must not show up in --list. No LogLevel line (see the report on
# libssh's log noise).
mkdir -p "$T/cfg.d"
cat >"$T/cfg.d/hosts.conf" <<EOF
Host devbox
	HostName 127.0.0.1
	Port $SSHD_PORT
	User $SSHD_USER
	IdentityFile $KEY
Host jumpbox
	HostName 127.0.0.1
	Port $JUMP_PORT
	User $SSHD_USER
	IdentityFile $KEY
Host behind
	HostName 127.0.0.1
	Port $SSHD_PORT
	User $SSHD_USER
	IdentityFile $KEY
	ProxyJump jumpbox
Host relayhost
	HostName 127.0.0.1
	Port $RELAY_PORT
	User $SSHD_USER
	IdentityFile $KEY
EOF
cat >"$T/cfg" <<EOF
Include $T/cfg.d/*.conf
Host *.corp
	User corpuser
	Port 2222
Host *
	IdentitiesOnly yes
	IdentityAgent none
	PreferredAuthentications publickey
	UserKnownHostsFile $T/known_hosts
	GlobalKnownHostsFile /dev/null
	StrictHostKeyChecking yes
	BatchMode yes
	ConnectTimeout 10
EOF
chmod 600 "$T/cfg" "$T/cfg.d/hosts.conf"
CFG=$T/cfg

# cc ARG...: codex-connect -F $CFG ARG... in a new session without a terminal;
# stdout in $OUT, stderr in $ERR, status in $RC. Reads stdin.
cc() {
	setsid -w timeout -k 5 "$TO" "$CONNECT" -F "$CFG" "$@" >"$T/out" 2>"$T/err"
	RC=$?
	OUT=$(cat "$T/out")
	ERR=$(cat "$T/err")
}

# drive ARG...: runs drive.py; its output in $OUT, codex-connect's stderr in $ERR.
drive() {
	OUT=$(timeout -k 5 90 python3 "$DRIVE" --relay-pid "$RELAY_PID" \
	    --ctl "$T/relay.ctl" "$@" 2>"$T/err")
	RC=$?
	ERR=$(cat "$T/err")
}

plan_lazy

# ---- ssh_config: Include, --list, suggestions ------------------------------------

drive --deltas 3 -- "$CONNECT" -F "$CFG" devbox --stdio
is "$OUT" "OK deltas=3 cuts=0 exit=0" "an alias from an Included file (HostName, Port, User, IdentityFile) connects"
is "$ERR" "" "  and nothing is printed on stderr"

cc --list </dev/null
is "$RC" 0 "--list succeeds"
is "$(printf '%s\n' "$OUT" | awk '{ print $1 }' | tr '\n' ' ')" \
    "devbox jumpbox behind relayhost " "--list shows the concrete aliases only, not Host * or *.corp"
like "$OUT" "^devbox +$SSHD_USER@127\\.0\\.0\\.1:$SSHD_PORT\$" "  with user@host:port"
like "$OUT" "^behind +$SSHD_USER@127\\.0\\.0\\.1:$SSHD_PORT via jumpbox\$" "  and the jump host"

cc --list --json </dev/null
is "$RC" 0 "--list --json succeeds"
got=$(printf '%s' "$OUT" | python3 -c '
import json, sys
hs = json.load(sys.stdin)
print(" ".join("%s=%s@%s:%d/%s" % (h["alias"], h["user"], h["hostname"], h["port"],
    h["proxyjump"]) for h in hs))
print(all(h["source_file"] == sys.argv[1] and h["identityfile"] == sys.argv[2]
    for h in hs))' "$T/cfg.d/hosts.conf" "$KEY" 2>&1)
is "$got" "devbox=$SSHD_USER@127.0.0.1:$SSHD_PORT/None jumpbox=$SSHD_USER@127.0.0.1:$JUMP_PORT/None behind=$SSHD_USER@127.0.0.1:$SSHD_PORT/jumpbox relayhost=$SSHD_USER@127.0.0.1:$RELAY_PORT/None
True" "  it is JSON with alias, user, hostname, port, proxyjump, identityfile and source file"

cc devbx --stdio </dev/null
is "$RC" 255 "an unknown alias fails (255, like ssh)"
like "$ERR" "did you mean devbox\\?" "  and suggests the close alias"

# ---- ProxyJump ----------------------------------------------------------------------

before=$(grep -c "Accepted publickey" "$JUMP_LOG")
drive --deltas 100 -- "$CONNECT" -F "$CFG" behind --stdio
is "$OUT" "OK deltas=100 cuts=0 exit=0" "ProxyJump through a second sshd reaches the subsystem: a whole turn"
after=$(grep -c "Accepted publickey" "$JUMP_LOG")
is "$((after - before))" 1 "  the jump host authenticated us once"

# ---- --stdio --------------------------------------------------------------------------

drive --deltas 1000 --bad-json -- "$CONNECT" -F "$CFG" devbox --stdio
is "$OUT" "parse error -32700 id null
OK deltas=1000 cuts=0 exit=0" "--stdio: a local invalid JSON line gets -32700, then a 1000-delta turn in order, exit 0"

drive --deltas 10 --hostile '[1,2]' --hostile '"hello"' --hostile '{"id":9,"method":5}' \
    --hostile '{"id":3,"method":"x","params":5}' --hostile '{"id":4}' \
    --hostile "$(printf '{"id":5,"method":"x","params":{"s":"\377"}}')" \
    --hostile "$(printf '{"id":6,"method":"\300\257"}')" -- "$CONNECT" -F "$CFG" devbox --stdio
is "$OUT" "rejected -32600 null
rejected -32600 null
rejected -32600 9
rejected -32600 3
rejected -32600 4
rejected -32700 null
rejected -32700 null
the remote got only the valid messages
OK deltas=10 cuts=0 exit=0" "--stdio: a batch, a scalar, bad members and bad UTF-8 get -32600/-32700 locally (id kept when valid), never reach the remote, and the turn runs"

drive --deltas 1000 -- "$CONNECT" -F "$CFG" devbox --stdio --plain
is "$OUT" "OK deltas=1000 cuts=0 exit=0" "--stdio --plain (JSONL on the channel): the same turn"

drive --deltas 1000 -- "$CONNECT" -F "$CFG" devbox --stdio --no-compress
is "$OUT" "OK deltas=1000 cuts=0 exit=0" "--stdio --no-compress: the same turn"

# ---- the unix socket: WebSocket and JSONL clients ----------------------------------

cat >"$T/sock.py" <<'EOF'
import base64, json, os, socket, subprocess, sys, threading, time
path, status_cmd = sys.argv[1], sys.argv[2:]

def connect():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(20)
    s.connect(path)
    return s

def upgrade(s, extra="", split=0):
    key = base64.b64encode(os.urandom(16)).decode()
    req = ("GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
           "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
           "Sec-WebSocket-Version: 13\r\n%s\r\n" % (key, extra)).encode()
    if split:
        s.sendall(req[:split])
        time.sleep(0.2)
    s.sendall(req[split:])
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(4096)
        if not d:
            break
        buf += d
    head, _, rest = buf.partition(b"\r\n\r\n")
    return head.decode("latin-1").split("\r\n")[0], rest

class WS:
    def __init__(self, s, rest):
        self.s, self.buf = s, rest
    def frame(self, op, data):
        mask = os.urandom(4)
        n = len(data)
        h = bytes([0x80 | op])
        if n < 126:
            h += bytes([0x80 | n])
        elif n < 65536:
            h += bytes([0x80 | 126]) + n.to_bytes(2, "big")
        else:
            h += bytes([0x80 | 127]) + n.to_bytes(8, "big")
        self.s.sendall(h + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))
    def send(self, obj):
        self.frame(1, json.dumps(obj).encode())
    def need(self, n):
        while len(self.buf) < n:
            d = self.s.recv(65536)
            if not d:
                raise EOFError("connection closed")
            self.buf += d
    def next_frame(self):
        self.need(2)
        b0, b1 = self.buf[0], self.buf[1]
        if b1 & 0x80:
            raise ValueError("a masked frame from the server")
        n, off = b1 & 0x7f, 2
        if n == 126:
            self.need(4); n, off = int.from_bytes(self.buf[2:4], "big"), 4
        elif n == 127:
            self.need(10); n, off = int.from_bytes(self.buf[2:10], "big"), 10
        self.need(off + n)
        data, self.buf = self.buf[off:off + n], self.buf[off + n:]
        return b0 & 0x0f, data
    def recv(self):
        while True:
            op, data = self.next_frame()
            if op == 1:
                return json.loads(data)
            if op == 8:
                raise EOFError("close frame")

class JL:
    def __init__(self, s):
        self.s, self.buf = s, b""
    def send(self, obj):
        self.s.sendall(json.dumps(obj).encode() + b"\n")
    def recv(self):
        while b"\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                raise EOFError("connection closed")
            self.buf += d
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

def turn(c, name, n, res):
    try:
        c.send({"id": 1, "method": "initialize",
                "params": {"clientInfo": {"name": name, "version": "1"}}})
        m = c.recv()
        assert m.get("id") == 1 and "result" in m, m
        c.send({"method": "initialized"})
        c.send({"id": 2, "method": "thread/start", "params": {}})
        while m.get("id") != 2:
            m = c.recv()
        tid = m["result"]["thread"]["id"]
        c.send({"id": 3, "method": "turn/start", "params": {"threadId": tid,
                "input": [{"type": "text", "text": "deltas=%d" % n}]}})
        k = 0
        while True:
            m = c.recv()
            if m.get("method") == "item/agentMessage/delta":
                assert m["params"]["delta"] == "d%d " % k, (k, m)
                k += 1
            elif m.get("method") == "turn/completed":
                break
        assert k == n, (k, n)
        # A first thread of thr-1 in both: each client has its own backend.
        res[name] = "%s %d deltas on %s" % (name, k, tid)
    except Exception as e:
        res[name] = "%s FAIL %r" % (name, e)

res = {}
ws = WS(connect(), b"")
line, rest = upgrade(ws.s)
print("upgrade: " + line)
ws.buf = rest
jl = JL(connect())
ts = [threading.Thread(target=turn, args=(ws, "websocket", 3000, res)),
      threading.Thread(target=turn, args=(jl, "jsonl", 3000, res))]
for t in ts:
    t.start()
for t in ts:
    t.join(40)
for k in ("websocket", "jsonl"):
    print(res.get(k, k + " FAIL no result"))
# both stay connected while status runs
st = subprocess.run(status_cmd, stdout=subprocess.PIPE, timeout=40)
n = sum(1 for l in st.stdout.decode().splitlines() if " fake " in l and "attached" in l)
print("status: exit %d, %s attached sessions" % (st.returncode, "2 or more" if n >= 2 else n))
# ping, then close
ws.frame(9, b"hb")
op, data = ws.next_frame()
print("ping answered: op %d %r" % (op, data))
ws.frame(8, (1000).to_bytes(2, "big"))
op, data = ws.next_frame()
print("close answered: op %d code %d" % (op, int.from_bytes(data[:2], "big")))
s = connect()
print("with Origin: " + upgrade(s, "Origin: http://evil.example\r\n")[0])
s = connect()
print("request split after 2 bytes: " + upgrade(s, split=2)[0])
EOF

SOCKDIR=$T/s
timeout -k 5 90 "$CONNECT" -F "$CFG" devbox --no-tui --socket "$SOCKDIR/sock" \
    </dev/null >"$T/sock.out" 2>"$T/sock.err" &
sock_pid=$!
at_exit "kill $sock_pid 2>/dev/null"
i=0
while [ ! -S "$SOCKDIR/sock" ] && [ $i -lt 200 ] && kill -0 $sock_pid 2>/dev/null; do
	sleep 0.05
	i=$((i + 1))
done
ok "$([ -S "$SOCKDIR/sock" ]; echo $?)" "--no-tui --socket: the socket appears"
is "$(stat -c %a "$SOCKDIR" 2>&1) $(stat -c %a "$SOCKDIR/sock" 2>&1)" "700 600" \
    "  mode 0600 in a 0700 directory"
like "$(cat "$T/sock.err")" "codex --remote unix://$SOCKDIR/sock" "  and says how to attach the TUI"
OUT=$(timeout -k 5 90 python3 "$T/sock.py" "$SOCKDIR/sock" \
    setsid -w "$CONNECT" -F "$CFG" devbox status 2>&1)
is "$OUT" "upgrade: HTTP/1.1 101 Switching Protocols
websocket 3000 deltas on thr-1
jsonl 3000 deltas on thr-1
status: exit 0, 2 or more attached sessions
ping answered: op 10 b'hb'
close answered: op 8 code 1000
with Origin: HTTP/1.1 403 Forbidden
request split after 2 bytes: HTTP/1.1 101 Switching Protocols" \
    "a WebSocket and a JSONL client at once: each its own session and a whole turn; status lists them; ping, close, Origin refused, a split request"

nolisten_check_user_procs codex-connect codex-subsystem >"$T/nl" 2>&1
ok $? "no codex-connect or codex-subsystem process holds a listening TCP/UDP socket" ||
    diag "$(cat "$T/nl")"
like "$NOLISTEN_FOUND" '[0-9] .*[0-9]' "  (the check saw our processes: $(echo "$NOLISTEN_FOUND" | wc -w))"

kill -TERM $sock_pid
wait $sock_pid
is "$?" 0 "SIGTERM ends the socket front end with status 0"
ok "$([ ! -e "$SOCKDIR/sock" ]; echo $?)" "  and removes the socket"

# ---- exec ------------------------------------------------------------------------------

cc devbox exec "deltas=5" </dev/null
is "$RC:$OUT" "0:d0 d1 d2 d3 d4 " "exec: the agent's text on stdout, exit 0"
is "$ERR" "" "  nothing on stderr"

cc devbox exec "approval=1 deltas=2" </dev/null
is "$RC:$OUT" "0:d0 d1 " "exec: an approval without a terminal is declined; the turn completes, exit 0"
like "$ERR" 'wants to run `echo hi`.*Allow\? no \(no terminal; use --yes' "  saying so on stderr"
unlike "$ERR" '^hi$' "  and the command did not run"

cc devbox exec --json "approval=1 deltas=2" </dev/null
like "$OUT" '"item":\{"type":"commandExecution".*"status":"declined"' \
    "exec --json: the item shows the command declined"
got=$(printf '%s\n' "$OUT" | python3 -c '
import json, sys
ms = [json.loads(l) for l in sys.stdin if l.strip()]
print(all("id" not in m for m in ms), " ".join(m["method"] for m in ms))' 2>&1)
is "$RC:$got" "0:True thread/started turn/started serverRequest/resolved item/completed item/started item/agentMessage/delta item/agentMessage/delta item/completed thread/tokenUsage/updated turn/completed" \
    "exec --json: every notification of the turn as one JSON line, in order"

cc devbox exec --yes "approval=1 deltas=2" </dev/null
is "$RC:$OUT" "0:d0 d1 " "exec --yes: the turn completes"
like "$ERR" 'Allow\? yes \(--yes\)' "  the approval is accepted"
like "$ERR" '^hi$' "  and the command's output appears"

OUT=$(timeout -k 5 60 python3 "$TTY" --timeout 40 --answer 'Allow\?.*\] ?$=y' -- \
    "$CONNECT" -F "$CFG" devbox exec "approval=1 deltas=2" 2>&1)
RC=$?
is "$RC" 0 "exec on a terminal: exit 0"
like "$OUT" 'wants to run `echo hi`.*Allow\? \[y/N/a=always\]' "  the question is asked on the terminal"
like "$OUT" '^hi$' "  answered y, the command runs and its output appears"
like "$OUT" '^d0 d1 $' "  and the turn goes on"

cc devbox exec "crash=3 deltas=10" </dev/null
isnt "$RC" 0 "exec: a backend crash mid-turn exits non-zero"
like "$ERR" "backend fake exited with status 3" "  with the reason on stderr"
like "$OUT" "^d0 d1 d2 " "  after the text that came before it"
is "$(tail -c 1 "$T/out" | od -An -tx1 | tr -d ' ')" 0a "  whose line is ended"

# Ctrl-C interrupts the turn (timeout --foreground passes SIGINT on once).
timeout --foreground -k 5 60 "$CONNECT" -F "$CFG" devbox exec "deltas=100000 rate=500" \
    </dev/null >"$T/int.out" 2>"$T/int.err" &
int_pid=$!
at_exit "kill $int_pid 2>/dev/null"
i=0
while ! grep -q 'd100 ' "$T/int.out" && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
kill -INT $int_pid
wait $int_pid
is "$?" 130 "exec: SIGINT interrupts the turn, exit 130"
like "$(cat "$T/int.err")" "interrupting the turn" "  saying so"
like "$(cat "$T/int.err")" "turn interrupted" "  and the server ends the turn"

# ---- status ------------------------------------------------------------------------------

# A session left open by a --stdio client that does not close its stdin.
mkfifo "$T/hold"
timeout -k 5 60 "$CONNECT" -F "$CFG" devbox --stdio <"$T/hold" >"$T/hold.out" 2>&1 &
hold_pid=$!
at_exit "kill $hold_pid 2>/dev/null"
exec 7>"$T/hold"
echo '{"id":1,"method":"initialize","params":{"clientInfo":{"name":"held","version":"1"}}}' >&7
i=0
while ! grep -q '"id":1' "$T/hold.out" && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
cc devbox status </dev/null
is "$RC" 0 "status: exit 0"
like "$OUT" "^devbox: session hosts" "  names the host"
like "$OUT" "^ +HOST +ID +BACKEND +PID +STATE" "  a table of sessions"
is "$(printf '%s\n' "$OUT" | grep -c ' fake .*attached')" 1 \
    "  listing the held session (status itself starts no backend)"
cc devbox status --json </dev/null
got=$(printf '%s' "$OUT" | python3 -c '
import json, sys
r = json.load(sys.stdin)   # the whole of stdout: exactly one JSON document
ss = [s for h in r["hosts"] for s in h["sessions"]]
print(sum(s["state"] == "attached" for s in ss) == 1, all({"id", "backend", "pid", "state"} <= set(s) for s in ss))' 2>&1)
is "$RC:$got" "0:True True" "status --json: one JSON document, the sessions in it"
exec 7>&-
wait $hold_pid
is "$?" 0 "the held --stdio client exits 0 at stdin EOF"

# ---- the link cut mid-turn -----------------------------------------------------------

# make check-valgrind: under valgrind a new connection may take more than 3 s to
# answer its first ping, and the first one would be taken for a dead link too.
dead_after=3
[ -z "${CXS_VALGRIND-}" ] || dead_after=10
drive --deltas 50000 --rate 20000 --cut-at 10000:cut,30000:stall -- \
    "$CONNECT" -F "$CFG" relayhost --stdio --ping-interval 1 --dead-after "$dead_after"
is "$OUT" "OK deltas=50000 cuts=2 exit=0" \
    "link reset, then black-holed, mid-turn: all 50,000 deltas exactly once, in order, and turn/completed"
is "$(printf '%s\n' "$ERR" | grep -c 'connection to relayhost lost')" 2 "  two losses reported on stderr"
like "$ERR" "lost \\(no answer from the server\\)" "  the black hole found by --dead-after"
is "$(printf '%s\n' "$ERR" | grep -c 'reconnected to relayhost after [0-9.]* s; resuming 1 session')" 2 \
    "  and two reconnects, each resuming the session"
relay_cmd cut

drive --deltas 20000 --rate 10000 --cut-at 5000:killserve --serve-cmdline "$SUB -f $T/conf" -- \
    "$CONNECT" -F "$CFG" devbox --stdio
is "$OUT" "OK deltas=20000 cuts=1 exit=0" \
    "codex-subsystem killed mid-turn (channel EOF without CLOSE): resumed, every delta exactly once"
like "$ERR" "reconnected to devbox after [0-9.]* s; resuming 1 session" "  on a new connection"

drive --deltas 5000 --rate 5000 --cut-at 500:cut -- "$CONNECT" -F "$CFG" relayhost --stdio --plain
like "$OUT" "FAIL codex-connect closed its stdout \\(status 1\\)" "--plain: a cut link ends the session (status 1)"
like "$ERR" "plain-mode session cannot be resumed" "  saying it cannot be resumed"

drive --after-init "refuse cut" -- "$CONNECT" -F "$CFG" relayhost --stdio \
    --ping-interval 1 --dead-after 3 --give-up 3
# make check-valgrind: starting and connecting take seconds more under valgrind.
secs='[3-6]'
[ -z "${CXS_VALGRIND-}" ] || secs='([3-9]|[1-5][0-9])'
like "$OUT" "^EXIT 255 after $secs\\.[0-9] s" "--give-up 3, the host refusing: exit 255 in about 3 s"
like "$ERR" "reconnect attempt 1 failed: .*Connection refused" "  reporting each failed attempt"
like "$ERR" "gave up reconnecting to relayhost after 3\\.[0-9] s: cannot connect to relayhost .*Connection refused" \
    "  and ending with a clear message with the last error"
is "$(printf '%s\n' "$ERR" | grep -c 'gave up')" 1 "  said once"
relay_cmd open

done_testing
