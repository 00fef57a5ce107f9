#!/bin/sh
# close-t.sh - nothing accepted is lost at close: codex-connect --stdio, given
# requests and then stdin's EOF, prints every answer before it exits, in every mode
# (framed + zlib, --no-compress, --plain), with a backend slow to start and one slow
# to answer; a long turn in flight at EOF ends the way `codex app-server` ends it on
# stdin EOF (its output up to then delivered, exit 0); past --close-wait the requests
# still owed get a JSON-RPC error, stderr says so and the exit status is 1; a socket
# client that closes right after sending still has its messages delivered.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$PWD}"
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/sshd.sh"

B=$top_builddir
CONNECT=$B/client/codex-connect
SUB=$B/subsystem/codex-subsystem
FAKE=$B/tests/fake-app-server

sshd_available || skip_all "$SSHD_WHY"
command -v python3 >/dev/null 2>&1 || skip_all "python3 not installed"
unset SSH_AUTH_SOCK SSH_AGENT_PID SSH_ASKPASS DISPLAY CODEX_CLI

tap_tmpdir T
cat >"$T/slowstart" <<EOF
#!/bin/sh
sleep 0.5
exec $FAKE --log $T/slowstart.in "\$@"
EOF
chmod +x "$T/slowstart"
cat >"$T/conf" <<CONF
Backend slowstart $T/slowstart
Backend slowreply $FAKE --reply-delay 500
Backend veryslow $FAKE --reply-delay 4000
Backend fake $FAKE --log $T/fake.in
DefaultBackend fake
LoginShell no
RuntimeDir $T/run
JournalDir $T/journal
LogFile $T/log
IdleTimeout 60s
CONF
sshd_start "$T/sshd" "Subsystem codex $SUB -f $T/conf" || bail "cannot start sshd"
# newest first: sshd (and every subsystem it runs) goes, then the hosts
at_exit "$SUB stop -f $T/conf >/dev/null 2>&1"
at_exit "sshd_stop"

INIT='{"id":1,"method":"initialize","params":{"clientInfo":{"name":"close-t","version":"1"}}}'

plan_lazy

for be in slowstart slowreply; do
	for mode in "" --no-compress --plain; do
		printf '%s\n' "$INIT" | timeout 30 "$CONNECT" -F "$SSH_CONFIG" $mode \
		    --backend "$be" testhost --stdio >"$T/out" 2>"$T/err"
		rc=$?
		like "$(cat "$T/out")" '^\{"id":1,"result":\{"userAgent"' \
		    "backend $be, ${mode:-framed+zlib}: the answer to the request sent before EOF arrives"
		is "$rc" 0 "  exit 0"
	done
done

# Three requests and EOF at once: all three answered, in order.
printf '%s\n' "$INIT" '{"id":2,"method":"thread/start","params":{}}' \
    '{"id":3,"method":"fake/echo","params":{"x":1}}' |
    timeout 30 "$CONNECT" -F "$SSH_CONFIG" --backend slowreply testhost --stdio >"$T/out" 2>"$T/err"
is "$(sed -n 's/^{"id":\([0-9]*\),"result".*/\1/p' "$T/out" | tr '\n' ' ')" "1 2 3 " \
    "three requests then EOF: three answers, in order"

# A long turn in flight when stdin closes: what `codex app-server` does on stdin
# EOF (it exits and the turn ends with it), with everything said up to then.
python3 - "$CONNECT" "$SSH_CONFIG" "$INIT" >"$T/turn" 2>&1 <<'PY'
import json, subprocess, sys, time
connect, cfg, init = sys.argv[1:4]
p = subprocess.Popen([connect, "-F", cfg, "testhost", "--stdio"], stdin=subprocess.PIPE,
                     stdout=subprocess.PIPE)
def send(m):
    p.stdin.write((json.dumps(m) + "\n").encode()); p.stdin.flush()
send(json.loads(init))
send({"id": 2, "method": "thread/start", "params": {}})
send({"id": 3, "method": "turn/start", "params": {"threadId": "thr-1",
      "input": [{"type": "text", "text": "deltas=200000 rate=2000"}]}})
k = 0
while k < 100:
    m = json.loads(p.stdout.readline())
    if m.get("method") == "item/agentMessage/delta":
        assert m["params"]["delta"] == "d%d " % k, (k, m)
        k += 1
t0 = time.monotonic()
p.stdin.close()
for line in p.stdout:
    m = json.loads(line)
    if m.get("method") == "item/agentMessage/delta":
        assert m["params"]["delta"] == "d%d " % k, (k, m)
        k += 1
rc = p.wait(30)
print("EXIT %d after %.1f s, %d deltas in order" % (rc, time.monotonic() - t0, k))
PY
like "$(cat "$T/turn")" '^EXIT 0 after [0-9]\.[0-9] s, [0-9]+ deltas in order' \
    "a turn in flight at stdin EOF: it ends as codex app-server ends it, exit 0 within seconds, what came is whole"

# Past the bound: the request still owed is answered with an error, and said.
printf '%s\n' "$INIT" | timeout 30 "$CONNECT" -F "$SSH_CONFIG" --backend veryslow \
    --close-wait 1 testhost --stdio >"$T/out" 2>"$T/err"
is "$?" 1 "--close-wait 1 with a backend that takes 4 s: exit 1"
like "$(cat "$T/err")" "giving up \\(1 request unanswered\\)" "  stderr says so"
like "$(cat "$T/out")" '^\{"id":1,"error":\{"code":-32603,"message":"codex-connect: gave up' \
    "  the request gets a JSON-RPC error"

# A socket client that sends and closes at once: its messages still reach the backend.
: >"$T/fake.in"
timeout -k 5 40 "$CONNECT" -F "$SSH_CONFIG" testhost --no-tui --socket "$T/s.sock" \
    </dev/null >/dev/null 2>"$T/sock.err" &
cpid=$!
at_exit "kill $cpid 2>/dev/null"
i=0; while [ ! -S "$T/s.sock" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
python3 - "$T/s.sock" "$INIT" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.sendall((sys.argv[2] + "\n" + '{"method":"initialized"}\n' +
           '{"id":9,"method":"fake/echo","params":{"last":true}}\n').encode())
s.close()
PY
i=0; while ! grep -q '"last":true' "$T/fake.in" && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
ok "$(grep -q '"last":true' "$T/fake.in"; echo $?)" \
    "a socket client that closes right after sending: its last message reaches the backend"

# A WebSocket client's message may be pretty-printed JSON, newlines and all: the
# backend, which reads lines, still gets one message and answers it.
python3 - "$T/s.sock" "$INIT" >"$T/ws" 2>&1 <<'PY'
import base64, json, os, socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(20)
s.connect(sys.argv[1])
key = base64.b64encode(os.urandom(16)).decode()
s.sendall(("GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
           "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
           "Sec-WebSocket-Version: 13\r\n\r\n" % key).encode())
buf = b""
while b"\r\n\r\n" not in buf:
    buf += s.recv(4096)
buf = buf.split(b"\r\n\r\n", 1)[1]
def send(text):
    data, mask = text.encode(), os.urandom(4)
    hdr = bytes([0x81]) + (bytes([0x80 | len(data)]) if len(data) < 126 else
                           bytes([0xFE]) + struct.pack(">H", len(data)))
    s.sendall(hdr + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))
def recv():
    global buf
    while True:
        while len(buf) < 2 or len(buf) < 2 + (buf[1] & 0x7F if buf[1] & 0x7F < 126 else 2):
            buf += s.recv(65536)
        n, off = buf[1] & 0x7F, 2
        if n == 126:
            n, off = struct.unpack(">H", buf[2:4])[0], 4
        elif n == 127:
            n, off = struct.unpack(">Q", buf[2:10])[0], 10
        while len(buf) < off + n:
            buf += s.recv(65536)
        op, data, buf = buf[0] & 0x0F, buf[off:off + n], buf[off + n:]
        if op == 1:
            return json.loads(data)
send(json.dumps(json.loads(sys.argv[2]), indent=2))
while True:
    m = recv()
    if m.get("id") == 1:
        print("ANSWER " + ("result" if "result" in m else json.dumps(m)))
        break
PY
like "$(cat "$T/ws")" '^ANSWER result' \
    "a pretty-printed request over the WebSocket (newlines inside) is answered"

# Health probes on the socket, as on the app server's own listener.
probe_http() {
	python3 - "$T/s.sock" "$1" "$2" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(sys.argv[1])
extra = ("Origin: %s\r\n" % sys.argv[3]) if sys.argv[3] else ""
s.sendall(("GET %s HTTP/1.1\r\nHost: localhost\r\n%s\r\n" % (sys.argv[2], extra)).encode())
data = b""
while True:
    d = s.recv(4096)
    if not d:
        break
    data += d
print(data.split(b"\r\n", 1)[0].decode(), data.split(b"\r\n\r\n", 1)[-1].decode().strip())
PY
}
is "$(probe_http /readyz '')" "HTTP/1.1 200 OK ok" "GET /readyz on the socket: 200 OK"
is "$(probe_http /healthz '')" "HTTP/1.1 200 OK ok" "GET /healthz: 200 OK"
like "$(probe_http /healthz http://evil.example)" "^HTTP/1.1 403 Forbidden" \
    "  a request with an Origin: 403"
kill "$cpid" 2>/dev/null
wait "$cpid" 2>/dev/null

done_testing
