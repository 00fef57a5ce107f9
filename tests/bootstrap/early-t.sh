#!/bin/sh
# early-t.sh - failures before the protocol starts are said plainly: a Subsystem
# line naming a missing program, a ForceCommand running instead of the shell, a
# backend missing on the remote. codex-connect prints what the server side said
# (exit status, output) on stderr, exits non-zero, and --stdio answers the request
# already sent with a JSON-RPC error carrying the same reason.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$PWD}"
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/sshd.sh"

B=$top_builddir
CONNECT=$B/client/codex-connect
SUB=$B/subsystem/codex-subsystem
sshd_available || skip_all "$SSHD_WHY"
unset SSH_AUTH_SOCK SSH_AGENT_PID SSH_ASKPASS DISPLAY CODEX_CLI
tap_tmpdir T
INIT='{"id":1,"method":"initialize","params":{"clientInfo":{"name":"early-t","version":"1"}}}'

stdio() {
	OUT=$(printf '%s\n' "$INIT" | timeout -k 5 60 "$CONNECT" -F "$SSH_CONFIG" "$@" \
	    testhost --stdio 2>"$T/err")
	RC=$?
	ERR=$(cat "$T/err")
}

plan_lazy

sshd_start "$T/s1" "Subsystem codex /nonexistent/codex-subsystem" || bail "sshd"
stdio
isnt "$RC" 0 "a Subsystem line naming a missing program: non-zero exit"
like "$ERR" "exited with status 127: command not found" "  stderr gives the exit status and what it means"
like "$OUT" '^\{"id":1,"error":\{"code":-32603,"message":"codex-connect: .*status 127' \
    "  the request gets a JSON-RPC error with the reason"
sshd_stop

sshd_start "$T/s2" "ForceCommand echo this account runs a menu" || bail "sshd"
stdio
isnt "$RC" 0 "a ForceCommand instead of the shell: non-zero exit"
like "$ERR" 'printed "this account runs a menu".*ForceCommand' "  stderr shows what it printed and names ForceCommand"
like "$OUT" '^\{"id":1,"error":\{"code":-32603,"message":"codex-connect: .*this account runs a menu' \
    "  the request gets a JSON-RPC error with the reason"
sshd_stop

cat >"$T/conf" <<CONF
Backend app-server /nonexistent/codex app-server
LoginShell no
RuntimeDir $T/run
LogFile $T/log
CONF
sshd_start "$T/s3" "Subsystem codex $SUB -f $T/conf" || bail "sshd"
at_exit "$SUB stop -f $T/conf >/dev/null 2>&1"
stdio
isnt "$RC" 0 "a backend missing on the remote: non-zero exit"
like "$ERR" "/nonexistent/codex.*exited with status 127" "  stderr says what was run and how it ended"
like "$OUT" '^\{"id":1,"error":\{"code":-32603,"message":"codex-connect: .*/nonexistent/codex' \
    "  the request gets a JSON-RPC error with the reason"
stdio --plain
like "$OUT" '^\{"id":1,"error":\{"code":-32603,"message":".*/nonexistent/codex' \
    "  the same in plain mode"
sshd_stop

# A machine that kills the session host when the connection ends (logind's
# KillUserProcesses): after the second time, sessions run attached, and
# codex-connect says so and why.
cat >"$T/kconf" <<CONF
Backend app-server $B/tests/fake-app-server
LoginShell no
RuntimeDir $T/krun
JournalDir $T/kjournal
LogFile $T/klog
CONF
{
	echo '#!/bin/sh'
	echo "\"$SUB\" -f \"$T/kconf\""
	echo 'rc=$?'
	echo "pkill -KILL -f 'codex-subsystem host .*-f $T/kconf\$' 2>/dev/null"
	echo 'exit $rc'
} >"$T/killer"
chmod +x "$T/killer"
sshd_start "$T/s4" "Subsystem codex $T/killer" || bail "sshd"
stdio
stdio
unlike "$ERR" "attached" "a session host killed when its connection ended, twice: no conclusion yet"
stdio
like "$OUT" '^\{"id":1,"result"' "the third time the session runs (attached)"
like "$ERR" "killed when a connection ends .*loginctl enable-linger.*run attached" \
    "  and codex-connect says why, and what to do"
sshd_stop
done_testing
