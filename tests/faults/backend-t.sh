#!/bin/sh
# backend-t.sh - hostile backends (issue 13, faults). Sessions of one session host,
# behind a real OpenSSH sshd on 127.0.0.1, reached with `codex-connect --stdio`
# (framed), run small scripts that misbehave:
#
#   bigline   a line over MaxMessage (300 MiB with CXS_FAULTS_FULL=1, else 64 MiB;
#             MaxMessage 64M resp. 8M), then its answer: the client gets an
#             error naming MaxMessage, then the answer, and the session goes on;
#   nonl      the same line with no newline, and the backend keeps running: the
#             error comes while it runs;
#   noread    never reads stdin while the client sends as fast as it can: the
#             client (codex-connect) stops taking input, its memory and the
#             host's stay bounded, the link is not taken for dead;
#   closeout  closes stdout but keeps running (with a child): the session ends
#             with a clear message within a bounded time, and nothing of the
#             backend's process group is left;
#   errflood  floods stderr (over 1 GiB) while a turn streams on stdout at 2,000
#             deltas a second: the turn keeps its pace, memory and the log stay
#             bounded (LogLevel VERBOSE, LogMax 64K).
#
# Throughout, how much the session host's peak RSS (VmHWM, reset before each
# case) grows is asserted against a stated bound and printed (MaxMessage plus
# its journals and buffers where a long line comes, else the latter), and a
# normal session runs on the same host in parallel and must complete (its time
# is printed next to the time it takes alone).
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$PWD}"
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/sshd.sh"

B=$top_builddir
CONNECT=$B/client/codex-connect
SUB=$B/subsystem/codex-subsystem
PROBE=$B/tests/tunnel-probe
FAKE=$B/tests/fake-app-server
HOSTILE=$top_srcdir/tests/faults/hostile.py

sshd_available || skip_all "$SSHD_WHY"
for f in "$CONNECT" "$SUB" "$PROBE" "$FAKE"; do
	[ -x "$f" ] || skip_all "not built: $f"
done
command -v python3 >/dev/null 2>&1 || skip_all "python3 not installed"
unset SSH_AUTH_SOCK SSH_AGENT_PID SSH_ASKPASS DISPLAY CODEX_CLI

if [ -n "${CXS_VALGRIND-}" ]; then
	# make check-valgrind: codex-connect and the host run under memcheck, many
	# times slower, and their RSS is valgrind's: smaller figures, longer waits,
	# no RSS check.
	LINE_MIB=64 MAXMSG_MIB=8 FLOOD_MIB=10 NOREAD_SECS=20 OTHER_DELTAS=2000
	FLOOD_DELTAS=6000
elif [ "${CXS_FAULTS_FULL:-}" = 1 ]; then
	LINE_MIB=300 MAXMSG_MIB=64 FLOOD_MIB=500 NOREAD_SECS=20 OTHER_DELTAS=50000
	FLOOD_DELTAS=20000
else
	LINE_MIB=64 MAXMSG_MIB=8 FLOOD_MIB=100 NOREAD_SECS=4 OTHER_DELTAS=10000
	FLOOD_DELTAS=3000
fi
# The stderr flood lasts most of the turn beside it (FLOOD_DELTAS at 2,000 a
# second) and must carry at least FLOOD_MIB.
FLOOD_SECS=$(awk -v n="$FLOOD_DELTAS" 'BEGIN { print n / 2000 * 0.8 }')
JMEM_MIB=4
LOGMAX_K=64
# How much the host's RSS may grow during a case: its journals (the normal
# session's) and buffers, plus MaxMessage when a line over it comes (it is held
# up to MaxMessage before it is dropped).
HOST_SLACK_K=$((JMEM_MIB * 1024 + 24576))
# codex-connect journals up to 64 MiB of what the server has not acknowledged.
CLIENT_BOUND_K=$((64 * 1024 + 32 * 1024))

tap_tmpdir T

# ---- the hostile backends ---------------------------------------------------------
cat >"$T/bigline.py" <<'EOF'
import json, sys
mode, mib = sys.argv[1], int(sys.argv[2])
out = sys.stdout.buffer
req = json.loads(sys.stdin.readline())
chunk = b"x" * (1 << 20)
for _ in range(mib):
    out.write(chunk)
if mode == "nonl":
    out.flush()
    sys.stdin.read()          # runs on, its line never ends
    sys.exit(0)
out.write(b"\n" + json.dumps({"id": req["id"], "result": {"userAgent": "bigline"}}).encode() + b"\n")
out.flush()
for line in sys.stdin:        # then an echo server
    m = json.loads(line)
    if "id" in m and "method" in m:
        out.write(json.dumps({"id": m["id"], "result": m.get("params")}).encode() + b"\n")
        out.flush()
EOF
cat >"$T/closeout.sh" <<EOF
echo \$\$ >"$T/closeout.pid"
read -r line
echo '{"id":1,"result":{"userAgent":"closeout"}}'
exec >&-
sleep 600 &
echo \$! >"$T/closeout.child"
sleep 600
EOF
# (the count is written as it goes: the session's end may kill it mid-flood)
cat >"$T/flood.py" <<'EOF'
import os, sys, time
secs, count = float(sys.argv[1]), sys.argv[2]
chunk = (b"flooding stderr " * 4096)[:1 << 16]
done, t0 = 0, time.monotonic()
def note():
    with open(count + ".tmp", "w") as f:
        f.write("%d %.2f\n" % (done, time.monotonic() - t0))
    os.rename(count + ".tmp", count)
while time.monotonic() - t0 < secs:
    done += os.write(2, chunk)
    if done % (16 << 20) == 0:
        note()
note()
EOF
cat >"$T/conf" <<CONF
Backend fake $FAKE
Backend bigline python3 $T/bigline.py line $LINE_MIB
Backend nonl python3 $T/bigline.py nonl $LINE_MIB
Backend noread sleep 600
Backend closeout sh $T/closeout.sh
Backend errflood sh -c 'python3 $T/flood.py $FLOOD_SECS $T/flood.count & exec $FAKE'
DefaultBackend fake
LoginShell no
RuntimeDir $T/run
JournalDir $T/journal
JournalMemory ${JMEM_MIB}M
MaxMessage ${MAXMSG_MIB}M
LogFile $T/log
LogLevel VERBOSE
LogMax ${LOGMAX_K}K
DetachTimeout 2s
IdleTimeout 120s
CONF
sshd_start "$T/sshd" "Subsystem codex $SUB -f $T/conf" || bail "cannot start sshd"
at_exit "$SUB stop -f $T/conf >/dev/null 2>&1"
at_exit "sshd_stop"

val() {
	printf '%s\n' "$2" | sed -n "s/.* $1=\\([^ ]*\\).*/\\1/p" | head -n 1
}

status_py() {
	"$SUB" status --json -f "$T/conf" | python3 -c "import json, sys
d = json.load(sys.stdin)
$1"
}

vmhwm() {
	awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null
}

# connect BACKEND: codex-connect for a session of BACKEND.
connect() {
	echo timeout -k 5 120 "$CONNECT" -F "$SSH_CONFIG" --backend "$1" testhost --stdio
}

# other_start / other_check NAME: a normal session (the fake, OTHER_DELTAS deltas)
# on the same host while a hostile one runs.
other_start() {
	timeout -k 5 120 "$PROBE" --timeout 100 --deltas "$OTHER_DELTAS" -- \
	    ssh -F "$SSH_CONFIG" -s testhost codex >"$T/other.out" 2>&1 &
	OTHER=$!
}
other_check() {
	wait "$OTHER"
	_o=$(cat "$T/other.out")
	like "$_o" "^OK deltas=$OTHER_DELTAS " \
	    "$1: a normal session on the same host completed in $(val seconds "$_o") s (alone: $ALONE s)"
}

# host_mark: starts the host's peak RSS afresh (VmHWM = VmRSS now, kept in RSS0).
# host_ok NAME BOUND_K: its peak since then grew by at most BOUND_K.
host_mark() {
	echo 5 >"/proc/$HP/clear_refs" 2>/dev/null
	RSS0=$(vmhwm "$HP")
}
host_ok() {
	_h=$(vmhwm "$HP")
	rss_ok "$([ -n "$_h" ] && [ -n "$RSS0" ] && [ $((_h - RSS0)) -le "$2" ]; echo $?)" \
	    "$1: session host peak RSS $_h KiB, $((${_h:-0} - ${RSS0:-0})) KiB over its $RSS0 KiB before (bound $2 KiB)"
	host_mark
}

# rss_ok STATUS DESC: ok, but skipped under valgrind (whose RSS it would be) and
# the sanitizers (./dev asan: shadow memory, and a quarantine holding freed memory).
rss_ok() {
	if [ -n "${CXS_VALGRIND-}" ]; then
		skip "RSS under valgrind is valgrind's"
	elif [ -n "${CXS_SANITIZED-}" ]; then
		skip "RSS under a sanitizer is the sanitizer's"
	else
		ok "$@"
	fi
}

plan_lazy

# ---- a normal session alone, for comparison ------------------------------------------
OUT=$(timeout -k 5 120 "$PROBE" --timeout 100 --deltas "$OTHER_DELTAS" -- \
    ssh -F "$SSH_CONFIG" -s testhost codex 2>&1)
like "$OUT" "^OK deltas=$OTHER_DELTAS " "a normal session alone: $OTHER_DELTAS deltas in $(val seconds "$OUT") s"
ALONE=$(val seconds "$OUT")
HP=$(status_py 'print(next(h["host_pid"] for h in d["hosts"] if h["current"]))')
host_mark
diag "session host pid $HP, RSS $RSS0 KiB"

# ---- noread (first: its session ends on the server only after DetachTimeout) -------
other_start
OUT=$(python3 "$HOSTILE" noread --secs "$NOREAD_SECS" --timeout 60 -- $(connect noread) 2>&1)
diag "noread: $OUT"
like "$OUT" "^OK " "noread: the client ran ${NOREAD_SECS} s against a backend that never reads"
sent=$(val sent "$OUT")
ok "$(awk -v s="$(val stalled_for "$OUT")" 'BEGIN { exit !(s != "" && s >= 1) }'; echo $?)" \
    "noread: back-pressure: codex-connect took $sent bytes, then nothing for the last $(val stalled_for "$OUT") s"
ok "$([ -n "$sent" ] && [ "$sent" -le $((CLIENT_BOUND_K * 1024)) ]; echo $?)" \
    "noread: what codex-connect took is bounded ($sent <= $((CLIENT_BOUND_K * 1024)) bytes)"
r=$(val client_rss_max "$OUT")
rss_ok "$([ -n "$r" ] && [ "$r" -le "$CLIENT_BOUND_K" ]; echo $?)" \
    "noread: codex-connect peak RSS $r KiB (bound $CLIENT_BOUND_K KiB)"
unlike "$(cat "$T/log")" "session [0-9]+ resumed" \
    "noread: the link was not taken for dead meanwhile (no resume)"
host_ok noread $HOST_SLACK_K
other_check noread

# ---- closeout --------------------------------------------------------------------------
other_start
OUT=$(python3 "$HOSTILE" closeout --timeout 30 -- $(connect closeout) 2>&1)
diag "closeout: $OUT"
like "$OUT" "^OK ended_after=" "closeout: the session ended while the backend still ran"
ok "$(awk -v s="$(val ended_after "$OUT")" 'BEGIN { exit !(s != "" && s <= 10) }'; echo $?)" \
    "closeout: within $(val ended_after "$OUT") s of its last answer (bound 10 s: 3 s grace, TERM, KILL 3 s later)"
like "$OUT" "stderr=.*closed_its_output_but_kept_running;_stopped_it:_signal_15" \
    "closeout: codex-connect says why"
like "$(val exit "$OUT")" '^[1-9][0-9]*$' "closeout: codex-connect exits nonzero"
pg=$(cat "$T/closeout.pid" 2>/dev/null)
# (a zombie is dead already; init may take a moment to reap it)
i=0
while :; do
	left=$(ps -e -o pgid= -o stat= -o pid= -o args= | awk -v g="${pg:-none}" '$1 == g && $2 !~ /^Z/')
	[ -z "$left" ] || [ $i -ge 50 ] && break
	sleep 0.1
	i=$((i + 1))
done
is "$left" "" "closeout: nothing of its process group (pgid ${pg:-?}, with a child $(cat "$T/closeout.child" 2>/dev/null)) is left"
host_ok closeout $HOST_SLACK_K
other_check closeout

# ---- errflood ---------------------------------------------------------------------
OUT=$(timeout -k 5 120 "$PROBE" --timeout 100 --deltas "$FLOOD_DELTAS" --prompt "rate=2000" -- \
    ssh -F "$SSH_CONFIG" -s testhost codex 2>&1)
paced=$(val seconds "$OUT")
other_start
OUT=$(timeout -k 5 120 "$PROBE" --timeout 100 --backend errflood --deltas "$FLOOD_DELTAS" \
    --prompt "rate=2000" -- ssh -F "$SSH_CONFIG" -s testhost codex 2>&1)
diag "errflood: $OUT"
like "$OUT" "^OK deltas=$FLOOD_DELTAS " "errflood: a turn on stdout while stderr floods: every delta, in order"
ok "$(awk -v s="$(val seconds "$OUT")" -v p="$paced" 'BEGIN { exit !(s != "" && p != "" && s <= p * 1.5 + 1) }'; echo $?)" \
    "errflood: at its pace: $(val seconds "$OUT") s (the same turn without the flood: $paced s)"
i=0
while [ ! -s "$T/flood.count" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
fbytes= fsecs=
[ -s "$T/flood.count" ] && read -r fbytes fsecs <"$T/flood.count"
ok "$([ -n "$fbytes" ] && [ "$fbytes" -ge $((FLOOD_MIB << 20)) ]; echo $?)" \
    "errflood: the host read $((${fbytes:-0} >> 20)) MiB of stderr in $fsecs s, while the turn ran (at least $FLOOD_MIB MiB)"
host_ok errflood $HOST_SLACK_K
other_check errflood
# The flood's session logs its end once its stderr is closed.
i=0
while ! grep -q "more bytes of backend stderr not logged" "$T/log" && [ $i -lt 100 ]; do
	sleep 0.1
	i=$((i + 1))
done
logsz=$(cat "$T/log" "$T/log.1" 2>/dev/null | wc -c)
ok "$([ "$logsz" -le $((2 * LOGMAX_K * 1024 + 4096)) ]; echo $?)" \
    "errflood: the log stays bounded: $logsz bytes in log and log.1 (LogMax ${LOGMAX_K}K: at most two files of it)"
like "$(cat "$T/log")" "session [0-9]+: [0-9]+ more bytes of backend stderr not logged \\(at most 65536 per 10 s\\)" \
    "errflood: it logs a bounded share of the flood and says how much it left out"
like "$(cat "$T/log.1" "$T/log" 2>/dev/null)" "session [0-9]+: backend closeout closed its output" \
    "errflood: what was logged before the flood is still there"

# ---- bigline (after the others: the heap keeps what a long line took) -----------
other_start
OUT=$(python3 "$HOSTILE" bigline --timeout 60 -- $(connect bigline) 2>&1)
diag "bigline: $OUT"
like "$OUT" "^OK error=codex-subsystem:_backend_bigline_sent_a_message_over_the_$((MAXMSG_MIB << 20))-byte_limit_\\(MaxMessage\\);_it_was_dropped " \
    "bigline: a $LINE_MIB MiB line: the client gets an error naming MaxMessage"
like "$OUT" " continued=1 " "bigline: then the answer, and the session goes on"
like "$(cat "$T/log")" "session [0-9]+: backend bigline sent a message over the $((MAXMSG_MIB << 20))-byte limit" \
    "bigline: the log says so"
host_ok "bigline ($LINE_MIB MiB, MaxMessage $MAXMSG_MIB MiB)" $((MAXMSG_MIB * 1024 + HOST_SLACK_K))
other_check bigline

# ---- nonl ------------------------------------------------------------------------
other_start
OUT=$(python3 "$HOSTILE" nonl --timeout 30 -- $(connect nonl) 2>&1)
diag "nonl: $OUT"
like "$OUT" "^OK error=codex-subsystem:_backend_nonl_sent_a_message_over_the_[0-9]+-byte_limit" \
    "nonl: a $LINE_MIB MiB line that never ends: the error comes while the backend runs"
host_ok "nonl ($LINE_MIB MiB, MaxMessage $MAXMSG_MIB MiB)" $((MAXMSG_MIB * 1024 + HOST_SLACK_K))
other_check nonl

# ---- afterwards: every session ended, no backend left --------------------------------
i=0
while [ $i -lt 200 ]; do
	n=$(status_py 'print(sum(len(h["sessions"]) for h in d["hosts"]))')
	[ "$n" = 0 ] && break
	sleep 0.1
	i=$((i + 1))
done
is "$n" 0 "every session ended (the one whose backend never read: DetachTimeout after its client left)"
is "$(status_py 'print(next(h["host_pid"] for h in d["hosts"] if h["current"]))')" "$HP" \
    "the session host is the one that served every case"

done_testing
