#!/bin/sh
# pipe-t.sh - codex-subsystem on a plain pipe (no sshd): plain and framed modes,
# bad input, big messages, compression, resume, backend failures, config errors.
. "$top_srcdir/tests/lib/tap.sh"

B=$top_builddir
SUB=$B/subsystem/codex-subsystem
PROBE=$B/tests/tunnel-probe
FAKE=$B/tests/fake-app-server
command -v python3 >/dev/null 2>&1 || skip_all "python3 is needed to drive plain mode"

tap_tmpdir T
cat >"$T/conf" <<CONF
# test configuration
Backend fake $FAKE
Backend logged $FAKE --log $T/fake-in.log
Backend broken $FAKE --exit-at-start 3
Backend missing codex-no-such-program app-server
DefaultBackend fake
LoginShell no
RuntimeDir $T/run
JournalDir $T/journal
LogFile $T/log
LogLevel DEBUG
IdleTimeout 3s
MaxMessage 128M
CONF
at_exit "$SUB stop -f $T/conf >/dev/null 2>&1"

# plain SCRIPT: feeds lines to the subsystem, keeping stdin open a moment so the
# replies arrive before EOF; stdout to $T/out, stderr to $T/err.
plain() {
	python3 - "$@" >"$T/in" <<'PY'
import sys
for a in sys.argv[1:]:
    sys.stdout.write(a + "\n")
PY
	(cat "$T/in"; sleep "${PLAIN_WAIT:-0.5}") | timeout 60 "$SUB" -f "$T/conf" ${BACKEND:+--backend $BACKEND} >"$T/out" 2>"$T/err"
}

INIT='{"id":1,"method":"initialize","params":{"clientInfo":{"name":"t","version":"1"}}}'

plan_lazy

plain "$INIT"
ok $? "plain mode runs"
like "$(head -c 1 "$T/out")" '^\{' "stdout carries JSON from its first byte"
like "$(cat "$T/out")" '"id":1,"result":\{"userAgent"' "initialize answered by the backend"

plain "$INIT" 'this is not json' '{"id":2,"method":"thread/start","params":{}}'
like "$(cat "$T/out")" '^\{"id":null,"error":\{"code":-32700' "non-JSON line gets -32700 with id null"
like "$(cat "$T/out")" '"id":2,"result":\{"thread"' "and the channel goes on"

# Hostile lines: each is answered by the subsystem itself with CODE and ID (the
# offending id, or null), never reaches the backend (the "logged" one writes down
# every line it reads), and the request after it is served. \xNN is a raw byte.
TAB=$(printf '\t')
cat >"$T/hostile" <<'EOF'
-32600	null	[1,2]
-32600	null	[]
-32600	null	[{"id":1,"method":"initialize","params":{}}]
-32600	null	"hello"
-32600	null	42
-32600	null	null
-32600	null	{}
-32600	9	{"id":9,"method":5}
-32600	null	{"id":{"a":1},"method":"x","params":{}}
-32600	3	{"id":3,"method":"x","params":5}
-32600	4	{"id":4}
-32600	"s"	{"id":"s","method":"x","jsonrpc":"1.0"}
-32600	null	{"id":12,"result":{},"error":{"code":1,"message":"m"}}
-32700	null	{"id":5,"method":"x","params":{"s":"caf\xc3"}}
-32700	null	{"id":6,"method":"x","params":{"s":"\xff"}}
-32700	null	{"id":7,"method":"\xc0\xaf"}
-32700	null	{"id":8,"method":"x","params":{"s":"\xed\xa0\x80"}}
-32700	null	{"id":"\xf4\x90\x80\x80","method":"x"}
-32700	null	{"id":10,"method":"x"} \x80
EOF
# The lines alone, with their raw bytes.
cut -f3- "$T/hostile" | python3 -c '
import re, sys
sys.stdout.buffer.write(re.sub(rb"\\x([0-9a-f]{2})",
    lambda m: bytes([int(m.group(1), 16)]), sys.stdin.buffer.read()))' >"$T/hostile-lines"

# hostile.py SUB CONF LINES LOG: one plain channel per line of LINES: initialize,
# the line, then request 1000. Prints per line "ERRORS served|unserved
# kept|forwarded": the error replies the line got ("CODE ID", or none), whether
# request 1000 was answered, and whether the backend logged the line.
cat >"$T/hostile.py" <<'PY'
import json, os, select, subprocess, sys, time
sub, conf, lines, log = sys.argv[1:5]
init = b'{"id":1,"method":"initialize","params":{"clientInfo":{"name":"t","version":"1"}}}'
nxt = b'{"id":1000,"method":"thread/start","params":{}}'
for line in open(lines, "rb").read().splitlines():
    p = subprocess.Popen([sub, "-f", conf, "--backend", "logged"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    p.stdin.write(init + b"\n" + line + b"\n" + nxt + b"\n")
    p.stdin.flush()
    errors, served, buf = [], False, b""
    deadline = time.monotonic() + 20
    while not served and time.monotonic() < deadline:
        if not select.select([p.stdout], [], [], 1)[0]:
            continue
        d = os.read(p.stdout.fileno(), 65536)
        if not d:
            break
        buf += d
        while b"\n" in buf:
            l, buf = buf.split(b"\n", 1)
            try:
                m = json.loads(l)
            except ValueError:
                errors.append("unparsable reply")
                continue
            if m.get("id") == 1000:
                served = "result" in m
            elif "error" in m and m.get("id") != 1:
                errors.append("%s %s" % (m["error"]["code"], json.dumps(m["id"])))
    p.stdin.close()
    p.wait(20)
    seen = os.path.exists(log) and line in open(log, "rb").read().split(b"\n")
    print("%s %s %s" % (" + ".join(errors) or "none",
          "served" if served else "unserved", "forwarded" if seen else "kept"))
PY
rm -f "$T/fake-in.log"
python3 "$T/hostile.py" "$SUB" "$T/conf" "$T/hostile-lines" "$T/fake-in.log" >"$T/hostile.out"
k=0
while IFS="$TAB" read -r code id line; do
	k=$((k + 1))
	is "$(sed -n "${k}p" "$T/hostile.out")" "$code $id served kept" \
	    "plain: $line gets $code with id $id, is not forwarded, the next request is served"
done <"$T/hostile"
is "$(LC_ALL=C grep -ac '"id":1000,"method":"thread/start"' "$T/fake-in.log")" "$k" \
    "  (the logged backend saw each request after them)"

# Answers to server requests are messages too: forwarded as they are.
rm -f "$T/fake-in.log"
BACKEND=logged plain "$INIT" '{"id":0,"result":{"decision":"accept"}}' \
	'{"id":1,"error":{"code":-32000,"message":"declined"}}' '{"id":2,"method":"thread/start","params":{}}'
unlike "$(cat "$T/out")" '"error"' "plain: a client's result and error responses get no error"
is "$(grep -Fxc '{"id":0,"result":{"decision":"accept"}}' "$T/fake-in.log")" 1 "  the result reaches the backend"
is "$(grep -Fxc '{"id":1,"error":{"code":-32000,"message":"declined"}}' "$T/fake-in.log")" 1 \
    "  the error response reaches the backend"

python3 -c 'import sys; sys.stdout.write("{\"x\":\"" + "a"*(130*1024*1024) + "\"}\n")' >"$T/long"
(cat "$T/long"; echo "$INIT"; sleep 1) | timeout 60 "$SUB" -f "$T/conf" >"$T/out" 2>"$T/err"
like "$(cat "$T/out")" '"code":-32600,"message":"message too large' "an over-long line is refused"
like "$(cat "$T/out")" '"id":1,"result"' "the next line is served"
rm -f "$T/long"

plain "$INIT" '{"id":7,"method":"codex-ssh/status","params":{}}' '{"id":8,"method":"codex-ssh/nope","params":{}}'
like "$(cat "$T/out")" '"id":7,"result":\{"version":"[^"]*","identity":"[0-9a-f]{16}","hosts":\[\{"version":"[^"]*","host_pid":[0-9]+.*"sessions":\[\{"id":1,"backend":"fake"' "codex-ssh/status answered by the subsystem"
like "$(cat "$T/out")" '"id":8,"error":\{"code":-32601' "unknown codex-ssh/ method: -32601"

PLAIN_WAIT=2 plain "$INIT" '{"id":2,"method":"thread/start","params":{}}' \
	'{"id":3,"method":"turn/start","params":{"threadId":"thr-1","input":[{"type":"text","text":"deltas=1000"}]}}'
python3 - "$T/out" <<'PY'
import json, sys
k = 0
done = False
for line in open(sys.argv[1]):
    m = json.loads(line)
    if m.get("method") == "item/agentMessage/delta":
        assert m["params"]["delta"] == "d%d " % k, (k, m)
        k += 1
    if m.get("method") == "turn/completed":
        done = True
assert k == 1000 and done, (k, done)
PY
ok $? "plain mode: a 1000-delta turn, every delta in order"

# (make check-valgrind: valgrind relays the 40 MiB some 20 times slower.)
PLAIN_WAIT=$([ -n "${CXS_VALGRIND-}" ] && echo 40 || echo 4) \
	plain "$INIT" '{"id":2,"method":"thread/start","params":{}}' \
	'{"id":3,"method":"turn/start","params":{"threadId":"thr-1","input":[{"type":"text","text":"deltas=2 big=40M"}]}}'
python3 - "$T/out" <<'PY'
import hashlib, json, sys
ok = False
for line in open(sys.argv[1]):
    m = json.loads(line)
    if m.get("method") == "item/commandExecution/outputDelta":
        d = m["params"]["delta"]
        assert len(d) == 40 * 1024 * 1024, len(d)
        assert hashlib.sha256(d.encode()).hexdigest() == m["params"]["sha256"]
        ok = True
assert ok
PY
ok $? "plain mode: a 40 MiB message arrives whole (sha256 checked)"

BACKEND=broken plain "$INIT"; rc=$?
isnt "$rc" 0 "a backend that fails at start: non-zero exit"
like "$(cat "$T/out")" '"error":\{"code":-32603,"message":"backend broken failed: .*exited with status 3: fake: failing on purpose' "a clear JSON-RPC error says what was run and what it printed"
like "$(cat "$T/err")" 'failing on purpose' "and stderr says it too"
BACKEND=missing plain "$INIT"
like "$(cat "$T/out")" 'codex-no-such-program.*(not found|No such file)' "a backend not on PATH is named"

printf 'Frobnicate yes\n' >"$T/bad.conf"
echo "$INIT" | "$SUB" -f "$T/bad.conf" >"$T/out" 2>"$T/err"; rc=$?
isnt "$rc" 0 "unknown keyword: non-zero exit"
like "$(cat "$T/err")" 'bad.conf line 1: Frobnicate: unknown keyword' "the error names file and line"
like "$(cat "$T/out")" '^\{"id":null,"error":\{"code":-32603,"message":"codex-subsystem: .*bad.conf line 1: Frobnicate' \
    "and the channel says so as a JSON-RPC error (sshd drops a subsystem's stderr)"
printf 'Frobnicate yes\n' >"$T/bad.conf"
printf '\000cxssh\r\n' | "$SUB" -f "$T/bad.conf" >"$T/out" 2>"$T/err"
like "$(tail -c +9 "$T/out" | tr -d '\000')" 'Frobnicate: unknown keyword' "a framed client gets it in an ERROR frame"
printf 'JournalMemory lots\n' >"$T/bad.conf"
echo "$INIT" | "$SUB" -f "$T/bad.conf" >"$T/out" 2>"$T/err"
like "$(cat "$T/err")" 'line 1: JournalMemory: expected a size' "a bad value names the keyword"

printf '\000garbage!' | timeout 10 "$SUB" -f "$T/conf" >"$T/out" 2>"$T/err"; rc=$?
isnt "$rc" 0 "NUL then no magic: refused"
is "$(wc -c <"$T/out" | tr -d ' ')" 0 "with nothing on stdout"

run_ok "framed mode: 10,000 deltas" timeout 120 "$PROBE" --deltas 10000 -- "$SUB" -f "$T/conf"
like "$TAP_OUT" '^OK deltas=10000' "every delta once, in order"
run_ok "framed without compression" timeout 120 "$PROBE" --no-compress --deltas 10000 -- "$SUB" -f "$T/conf"
run_ok "framed: link cut three times in a 100,000-delta turn, resumed each time" \
	timeout 180 "$PROBE" --deltas 100000 --cut-every 30000 -- "$SUB" -f "$T/conf"
like "$TAP_OUT" '^OK deltas=100000 cuts=3 resumes=3' "all deltas exactly once across the cuts"
run_ok "framed: a 100 MiB message, chunked and compressed" \
	timeout 300 "$PROBE" --deltas 0 --prompt big=100M -- "$SUB" -f "$T/conf"
like "$TAP_OUT" 'big_bytes=104857600 big_ok=1' "arrives whole (sha256 checked)"
run_ok "framed: a 100 MiB message uncompressed" \
	timeout 300 "$PROBE" --no-compress --deltas 0 --prompt big=100M -- "$SUB" -f "$T/conf"
like "$TAP_OUT" 'big_ok=1' "arrives whole"
# The same hostile lines as framed messages, in one session before a turn.
rm -f "$T/fake-in.log"
n=$(wc -l <"$T/hostile" | tr -d ' ')
run_ok "framed: the hostile lines as messages, then a turn" timeout 60 "$PROBE" \
	--backend logged --send-lines "$T/hostile-lines" --deltas 5 -- "$SUB" -f "$T/conf"
like "$TAP_OUT" "^OK deltas=5 .* rejects=$n\$" "  each one rejected, and the turn runs"
is "$(printf '%s\n' "$TAP_OUT" | sed -n 's/^REJECT //p' | python3 -c '
import json, sys
for l in sys.stdin:
    m = json.loads(l)
    print(m["error"]["code"], json.dumps(m["id"]))')" "$(cut -f1,2 "$T/hostile" | tr "$TAB" ' ')" \
	"  each gets the code and id it gets in plain mode, in order"
python3 - "$T/hostile-lines" "$T/fake-in.log" <<'PY'
import sys
bad = set(open(sys.argv[1], "rb").read().splitlines())
seen = open(sys.argv[2], "rb").read().splitlines()
sys.exit(1 if bad & set(seen) or not any(b'"method":"turn/start"' in l for l in seen) else 0)
PY
ok $? "  the backend saw the turn and none of them"

run_ok "framed: codex-ssh/status" timeout 60 "$PROBE" --status -- "$SUB" -f "$T/conf"
like "$TAP_OUT" '^STATUS \{.*"mode":"daemon".*"state":"attached"' "status lists the attached session"

run_ok "backend crash mid-turn: CLOSE 7" timeout 60 "$PROBE" --deltas 100 --prompt crash=5 --expect-close 7 -- "$SUB" -f "$T/conf"
like "$TAP_OUT" 'exited with status 3' "the exit status is reported"
run_ok "backend fails to start: ERROR 6" timeout 60 "$PROBE" --backend broken --expect-close 6 -- "$SUB" -f "$T/conf"
like "$TAP_OUT" 'failed: .*fake-app-server --exit-at-start 3.* exited with status 3: fake: failing on purpose' "what was run and what it printed"
run_ok "unknown backend name: ERROR 6 listing the configured ones" \
	timeout 60 "$PROBE" --backend nonesuch --expect-close 6 -- "$SUB" -f "$T/conf"
like "$TAP_OUT" 'unknown backend "nonesuch" \(configured: .*fake' "names the known backends"
echo 0000000000000000000000000000000000000000000000000000000000000000 >"$T/tok"
run_ok "resume with an unknown token: ERROR 4" timeout 60 "$PROBE" --adopt "$T/tok" --expect-close 4 -- "$SUB" -f "$T/conf"

# A protocol violation gets an ERROR frame with a reason, then the channel closes.
python3 - "$SUB" "$T/conf" <<'PY'
import subprocess, sys
p = subprocess.run([sys.argv[1], "-f", sys.argv[2]], timeout=20,
                   input=b"\0cxssh\r\n" + b"\xff\xff\xff\xff" + b"x" * 64,
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
out = p.stdout
assert out.startswith(b"\0cxssh\r\n"), out[:20]
body = out[12:]
assert body[0] & 0xf0 == 0x90 and body[1] == 7, body[:4]   # [7, code, reason]
assert b"exceeds" in body or b"length" in body, body
print("# " + body[4:].decode(errors="replace"))
PY
ok $? "a bad frame length gets ERROR 1 with a reason, then the channel closes"

# A crashed session host: its stale socket and lock are recovered by the next channel.
run_ok "a session to start a host" timeout 60 "$PROBE" --deltas 10 -- "$SUB" -f "$T/conf"
hp=$(pgrep -f "codex-subsystem host .*-f $T/conf\$" | head -n 1)
kill -9 "$hp" 2>/dev/null
sleep 0.2
ok "$(ls "$T"/run/host-*.sock >/dev/null 2>&1; echo $?)" "the killed host left its socket behind"
run_ok "the next channel starts a new host over the stale socket" \
	timeout 60 "$PROBE" --deltas 10 -- "$SUB" -f "$T/conf"
isnt "$(pgrep -f "codex-subsystem host .*-f $T/conf\$" | head -n 1)" "$hp" "a new host runs"

# A detached session ends when DetachTimeout runs out: its backend is stopped.
"$SUB" stop -f "$T/conf"
sleep 0.5
sed 's/^IdleTimeout .*/IdleTimeout 30s/' "$T/conf" >"$T/conf-dt"
printf 'DetachTimeout 2s\n' >>"$T/conf-dt"
run_ok "a session left detached" timeout 60 "$PROBE" --deltas 10 --no-close -- "$SUB" -f "$T/conf-dt"
like "$("$SUB" status -f "$T/conf-dt")" 'fake .* detached' "status shows it detached"
sleep 4
like "$("$SUB" status -f "$T/conf-dt")" 'no sessions' "after DetachTimeout it is gone"
"$SUB" stop -f "$T/conf-dt"

printf 'Daemon no\n' >>"$T/conf"
run_ok "Daemon no: framed session in the subsystem process" timeout 60 "$PROBE" --deltas 1000 -- "$SUB" -f "$T/conf"
run_ok "Daemon no: a session cannot outlive its channel (resume refused)" \
	timeout 60 "$PROBE" --deltas 1000 --cut-every 500 --expect-close 4 -- "$SUB" -f "$T/conf"

done_testing
