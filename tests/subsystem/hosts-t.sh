#!/bin/sh
# hosts-t.sh - a session host never serves a new session with stale code or
# configuration: hosts are keyed by the identity of the codex-subsystem binary and
# its effective configuration (PROTOCOL.md 5). On a pipe, no sshd needed:
#   - config A, a long session; config rewritten to B: a new session runs B's
#     backend, the first is still answered by A's and resumes there after a cut;
#   - the same with the codex-subsystem binary replaced by a new build;
#   - a host whose backend program was deleted: the next session says so;
#   - a superseded host exits once its last session ended; `stop` waits.
. "$top_srcdir/tests/lib/tap.sh"

B=$top_builddir
SUB=$B/subsystem/codex-subsystem
PROBE=$B/tests/tunnel-probe
FAKE=$B/tests/fake-app-server

tap_tmpdir T
mkdir -p "$T/bin"
cp "$SUB" "$T/bin/codex-subsystem"
S=$T/bin/codex-subsystem

# conf LABEL: a configuration whose backend logs what it receives to $T/LABEL.in
conf() {
	cat <<CONF
Backend fake $FAKE --log $T/$1.in
DefaultBackend fake
LoginShell no
RuntimeDir $T/run
JournalDir $T/journal
LogFile $T/log
LogLevel DEBUG
IdleTimeout 60s
CONF
}
at_exit "$S stop -f $T/conf >/dev/null 2>&1; $SUB stop -f $T/conf >/dev/null 2>&1"

# hosts: the pids of session hosts serving $T/run
hosts() {
	pgrep -f "codex-subsystem host .*-f $T/conf\$" | sort
}
nhosts() {
	hosts | grep -c .
}
wait_hosts() {
	_i=0
	while [ "$(nhosts)" != "$1" ] && [ $_i -lt 100 ]; do sleep 0.1; _i=$((_i + 1)); done
	nhosts
}

plan_lazy

# ---- 1. the configuration changes under a running session ---------------------------

conf A >"$T/conf"
timeout 60 "$PROBE" --deltas 30000 --prompt rate=12000 --cut-every 20000 -- \
    "$S" -f "$T/conf" >"$T/p1" 2>&1 &
p1=$!
at_exit "kill $p1 2>/dev/null"
i=0; while ! grep -q turn/start "$T/A.in" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
hostA=$(hosts)
conf B >"$T/conf"
run_ok "config rewritten from A to B while a session of A streams: a new session" \
    timeout 60 "$PROBE" --deltas 10 -- "$S" -f "$T/conf"
ok "$(grep -q '"name":"tunnel-probe"' "$T/B.in"; echo $?)" "  it runs B's backend"
is "$(grep -c '"method":"initialize"' "$T/A.in")" 1 "  A's backend got only the first session"
is "$(nhosts)" 2 "  two session hosts now: A's keeps its session"
wait "$p1"
like "$(cat "$T/p1")" '^OK deltas=30000 cuts=1 resumes=1' \
    "the session of A is answered to the end and resumed after a cut"
like "$(cat "$T/log")" "resume: the session is held by session host" \
    "  the resume was routed to the host that holds it"
is "$(grep -c '"method":"initialize"' "$T/B.in")" 1 "  B's backend never saw it"
is "$(wait_hosts 1)" 1 "A's host exits once its last session ended"
isnt "$(hosts)" "$hostA" "  the one left is B's"
js=$("$S" status -f "$T/conf" --json)
printf '%s' "$js" | python3 -c '
import json, sys
r = json.load(sys.stdin)
assert [h["current"] for h in r["hosts"]] == [True], r' 2>&1
ok $? "status --json: one JSON document, one host, the current one"

# ---- 2. the binary is replaced ------------------------------------------------------

timeout 60 "$PROBE" --deltas 30000 --prompt rate=12000 --cut-every 20000 -- \
    "$S" -f "$T/conf" >"$T/p2" 2>&1 &
p2=$!
at_exit "kill $p2 2>/dev/null"
sleep 0.5
old=$(hosts)
# A new build lands the way `make install` puts it: a new file renamed into place.
cp "$SUB" "$T/bin/new" && touch "$T/bin/new" && mv "$T/bin/new" "$S"
run_ok "codex-subsystem replaced by a new build while a session streams: a new session" \
    timeout 60 "$PROBE" --deltas 10 -- "$S" -f "$T/conf"
is "$(nhosts)" 2 "  it got a new session host"
new=$(hosts | grep -vx "$old")
if [ -n "${CXS_VALGRIND-}" ]; then
	skip "/proc/PID/exe is valgrind's own under valgrind (make check-valgrind)" 2
else
	like "$(readlink "/proc/$new/exe")" "^$S\$" "  the new host runs the new binary"
	like "$(readlink "/proc/$old/exe")" "(deleted)" "  the old host still runs the old one"
fi
wait "$p2"
like "$(cat "$T/p2")" '^OK deltas=30000 cuts=1 resumes=1' \
    "the old binary's session is answered to the end and resumed after a cut"
is "$(wait_hosts 1)" 1 "the old host exits once its last session ended"

# ---- 3. a backend program deleted under a running host --------------------------------

cp "$FAKE" "$T/bin/fake-copy"
sed "s|^Backend fake .*|Backend fake $T/bin/fake-copy|" "$T/conf" >"$T/conf.new" && mv "$T/conf.new" "$T/conf"
run_ok "a session with a backend that exists" timeout 60 "$PROBE" --deltas 10 -- "$S" -f "$T/conf"
rm -f "$T/bin/fake-copy"
run_ok "the backend program deleted: the next framed session ends with CLOSE 6" \
    timeout 60 "$PROBE" --expect-close 6 -- "$S" -f "$T/conf"
like "$TAP_OUT" "fake-copy.* exited with status 127: .*not found" "  saying what was run and why it failed"
printf '%s\n' '{"id":1,"method":"initialize","params":{"clientInfo":{"name":"t","version":"1"}}}' |
    timeout 30 "$S" -f "$T/conf" >"$T/out" 2>"$T/err"
isnt "$?" 0 "  plain mode: non-zero exit"
like "$(cat "$T/out")" '"error":\{"code":-32603,"message":".*fake-copy.* exited with status 127' \
    "  plain mode: a JSON-RPC error says it"

# ---- 4. a stale host of another binary never serves a new session ----------------------

# A host started from an older copy, left running (as after an upgrade or a test
# run whose temporary config is gone): a new session does not go to it.
cp "$SUB" "$T/bin/old-sub"
cp "$FAKE" "$T/bin/fake-copy"
run_ok "a session through an old binary" timeout 60 "$PROBE" --deltas 5 -- "$T/bin/old-sub" -f "$T/conf"
rm -f "$T/bin/fake-copy"
sed "s|^Backend fake .*|Backend fake $FAKE --log $T/C.in|" "$T/conf" >"$T/conf.new" && mv "$T/conf.new" "$T/conf"
run_ok "the next session through the current binary and config works" \
    timeout 60 "$PROBE" --deltas 5 -- "$S" -f "$T/conf"
ok "$(grep -q '"name":"tunnel-probe"' "$T/C.in"; echo $?)" "  with the current config's backend"

# ---- 5. a machine that kills session hosts when a connection ends ----------------------

# Like systemd-logind with KillUserProcesses: when the channel's codex-subsystem
# ends, every process it left (the session host) is killed.
sed "s|^RuntimeDir .*|RuntimeDir $T/krun|; s|^JournalDir .*|JournalDir $T/kjournal|" "$T/conf" >"$T/kconf"
{
	echo '#!/bin/sh'
	echo "\"$S\" -f \"$T/kconf\""
	echo 'rc=$?'
	echo "pkill -KILL -f 'codex-subsystem host .*-f $T/kconf\$' 2>/dev/null"
	echo 'exit $rc'
} >"$T/killer"
chmod +x "$T/killer"
run_ok "a host killed when its connection ended: the next session still gets a host" \
    timeout 60 "$PROBE" --deltas 10 -- "$T/killer"
unlike "$TAP_OUT" "attached=" "  (once may be a crash: no conclusion yet)"
run_ok "killed again" timeout 60 "$PROBE" --deltas 10 -- "$T/killer"
run_ok "the third session runs attached, and its turn is intact" \
    timeout 60 "$PROBE" --deltas 5000 -- "$T/killer"
like "$TAP_OUT" '^OK deltas=5000 .*attached=".*killed when a connection ends.*attached' \
    "  WELCOME says so, and why"
is "$(pgrep -f "codex-subsystem host .*-f $T/kconf\$" | grep -c .)" 0 "  no session host was started for it"
like "$(cat "$T/log")" "remove $T/kjournal/hosts/killed to try" "  the log says how to try the host again"

# ---- 6. stop ends every host and waits ---------------------------------------------------

timeout 60 "$PROBE" --deltas 5 --no-close -- "$T/bin/old-sub" -f "$T/conf" >/dev/null 2>&1
timeout 60 "$PROBE" --deltas 5 --no-close -- "$S" -f "$T/conf" >/dev/null 2>&1
ok "$([ "$(nhosts)" -ge 2 ]; echo $?)" "two hosts with a detached session each"
"$S" stop -f "$T/conf"
is "$?" 0 "stop: exit 0"
is "$(nhosts)" 0 "  no host runs when stop returns"
is "$(pgrep -f "$FAKE --log $T/" | grep -c .)" 0 "  nor any backend"

done_testing
