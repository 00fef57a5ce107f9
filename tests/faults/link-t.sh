#!/bin/sh
# link-t.sh - the link between codex-connect and sshd fails (issue 13). A turn
# streams from the fake app server through `codex-connect HOST --stdio` (framed;
# pings every 1 s, the link dead after 2 s of silence) and a real OpenSSH sshd on
# 127.0.0.1 (ClientAliveInterval 1, ClientAliveCountMax 2: sshd drops a silent
# client after about 3 s) to a throw-away user whose sessions are kept 6 s when
# detached (DetachTimeout). Mid-turn:
#
#   - sshd is restarted: every sshd process killed (-9), the listener started
#     again 1.5 s later on the same port with the same host key: the client
#     reconnects and resumes the same session (same session host, same backend),
#     every delta once and in order;
#   - the link is cut for longer than the keepalive (4.5 s): established
#     connections go silent and new ones are refused, or vanish into a black hole
#     (accepted, never answered: the reconnect attempts time out); restored, the
#     session resumes with nothing lost or doubled;
#   - the link is cut for longer than the detach timeout (reset, or silent until
#     sshd's keepalive drops it): the client says the session expired and exits
#     nonzero; it does not start a new session, and the backend is gone.
#
# Each also with a slow peer (a backend that sleeps between deltas), and each
# followed by the census: no process of ours left, no journal file. `make check`
# runs four of the eight (about a minute), CXS_FAULTS_FULL=1 (make check-faults)
# all. Not repeated here, from tests/client/connect-t.sh: a reset or a stalled
# connection while the host stays reachable (resumed at once), codex-subsystem
# killed mid-turn, giving up (--give-up) on a host that stays unreachable; from
# share-t.sh the connection master killed. tests/faults/kill-t.sh kills each
# process of a session.
#
# Needs root (throw-away users). By hand, from the build directory:
#   top_srcdir=.. top_builddir=$PWD sh ../tests/faults/link-t.sh
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$PWD}"
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/sshd.sh"
. "$top_srcdir/tests/lib/users.sh"

B=$top_builddir
CONNECT=$B/client/codex-connect
SUB=$B/subsystem/codex-subsystem
FAKE=$B/tests/fake-app-server
FD=$top_srcdir/tests/faults/fdrive.py

sshd_available || skip_all "$SSHD_WHY"
users_available || skip_all "$USERS_WHY"
for f in "$CONNECT" "$SUB" "$FAKE"; do
	[ -x "$f" ] || skip_all "not built: $f"
done
command -v python3 >/dev/null 2>&1 || skip_all "python3 not installed"
command -v setpriv >/dev/null 2>&1 || skip_all "setpriv(1) not installed"
unset SSH_AUTH_SOCK SSH_AGENT_PID SSH_ASKPASS DISPLAY CODEX_CLI

DETACH=6
tap_tmpdir T
chmod 755 "$T"
. "$top_srcdir/tests/faults/faults.sh"
faults_user cxs-h3-link || bail "useradd failed"
JDIR=$FU_HOME/journal
LOG=$FU_HOME/subsystem.log
cat >"$T/conf" <<CONF
Backend fake $FAKE
DefaultBackend fake
LoginShell no
RuntimeDir %h/run
JournalDir %h/journal
LogFile %h/subsystem.log
LogLevel VERBOSE
JournalMemory 64K
DetachTimeout ${DETACH}s
IdleTimeout 300s
CONF
chmod 644 "$T/conf"
sshd_start "$T/sshd" "Subsystem codex $SUB -f $T/conf" "ClientAliveInterval 1" \
    "ClientAliveCountMax 2" || bail "cannot start sshd"
chmod 755 "$T/sshd"
chmod 644 "$SSHD_DIR/authorized_keys"
at_exit "as_remote $SUB stop -f $T/conf >/dev/null 2>&1"
relay_start "$T" 600 || bail "the relay did not start"
faults_ssh_config "$T/cfg" direct "$SSHD_PORT" relayhost "$RELAY_PORT"
# Quick to notice a dead link; a reconnect into a black hole gives up after 2 s.
COPTS="--stdio --ping-interval 1 --dead-after 2 -o ConnectTimeout=2"

DRV=
at_exit 'kill $DRV 2>/dev/null'

# turn_start HOST DELTAS RATE MARK: a turn in the background; after delta MARK the
# driver writes "at MARK" to $T/mark (turn_mark waits for it).
turn_start() {
	rm -f "$T/mark" "$T/res" "$T/err"
	python3 "$FD" turn --deltas "$2" --rate "$3" --mark-at "$4" --mark-file "$T/mark" \
	    --timeout $((120 * FAULTS_SLOW)) --stderr "$T/err" -- $CONNECT -F "$T/cfg" "$1" $COPTS \
	    >"$T/res" 2>&1 &
	DRV=$!
}

# turn_mark: waits (at most 60 s) for the mark; then records the session's host
# and backend pids in HOST_PID and BE_PID, and what the log says so far.
turn_mark() {
	_i=0
	while ! grep -q '^at ' "$T/mark" 2>/dev/null && [ $_i -lt $((600 * FAULTS_SLOW)) ] &&
	    kill -0 "$DRV" 2>/dev/null; do
		sleep 0.1
		_i=$((_i + 1))
	done
	HOST_PID=$(procs | awk '$1 == "host" { print $2 }')
	BE_PID=$(procs | awk '$1 == "backend" { print $2 }')
	n_started=$(grep -c 'started with backend' "$LOG")
	n_detached=$(grep -c 'detached (' "$LOG")
	n_expired=$(grep -c 'detach timeout' "$LOG")
	grep -q '^at ' "$T/mark" 2>/dev/null
}

# log_wait ERE COUNT SECONDS: waits until the log has more than COUNT lines
# matching ERE; fails after SECONDS.
log_wait() {
	_end=$(($(now_ms) + $3 * 1000 * FAULTS_SLOW))
	while [ "$(grep -Ec "$1" "$LOG")" -le "$2" ]; do
		[ "$(now_ms)" -ge "$_end" ] && return 1
		sleep 0.1
	done
}

# turn_end: waits for the driver (bounded by its --timeout); RES, ERR.
turn_end() {
	wait "$DRV"
	DRV=
	RES=$(cat "$T/res")
	ERR=$(cat "$T/err")
}

# after NAME: nothing of ours left, no journal file, the relay open again.
after() {
	wait_clean 15
	is "$LEFT" "" "  $1: no process of ours left (took $WAITED s)"
	is "$(journal_left "$JDIR")" "" "  $1: the journal left no file"
	relay_cmd open heal
}

plan_lazy
n_late=0

wait_clean 5
is "$LEFT" "" "nothing of ours runs at the start"

# ---- sshd restarted ---------------------------------------------------------------

# In `make check` (not CXS_FAULTS_FULL=1) each group runs once, with one fast and
# one slow variant where timing matters: FULL lists the rest.
FULL=${CXS_FAULTS_FULL:-0}
IFS0=$IFS
RESTARTS="20000 5000 5000 fast"
CUTS="400 50 50 slow hole heal"
EXPIRIES="30000 5000 5000 fast cut refuse open|400 50 50 slow stall hole heal"
if [ "$FULL" = 1 ]; then
	RESTARTS="$RESTARTS|300 60 60 slow"
	CUTS="30000 5000 5000 fast refuse open|30000 5000 5000 fast hole heal|$CUTS"
	EXPIRIES="$EXPIRIES|30000 5000 5000 fast stall hole heal"
fi

IFS='|'
set -f
for peer in $RESTARTS; do
	IFS=$IFS0
	set +f
	set -- $peer
	name="sshd restarted mid-turn ($4 backend: $1 deltas at $2/s)"
	turn_start direct "$1" "$2" "$3"
	turn_mark || diag "the turn did not reach delta $3: $(cat "$T/res")"
	sshd_crash
	t_down=$(now_ms)
	sleep 1.5
	sshd_relaunch || bail "sshd did not start again on port $SSHD_PORT"
	turn_end
	is "$RES" "$(printf '%s\n' "$RES" | grep "^RESULT end=completed deltas=$1 exit=0 ")" \
	    "$name: resumed, every delta once and in order, exit 0" || diag "$ERR"
	like "$ERR" "connection to direct lost" "  the loss is reported"
	like "$ERR" "reconnect attempt 1 failed: .*(refused|closed|reset)" "  attempts while sshd is down fail"
	like "$ERR" "reconnected to direct after [0-9.]+ s; resuming 1 session" "  and the client resumes"
	like "$(grep 'resumed from message' "$LOG" | tail -n 1)" "session [0-9]+ resumed" \
	    "  the server resumed the session"
	ok "$([ -n "$HOST_PID" ] && [ -n "$BE_PID" ] && kill -0 "$HOST_PID" 2>/dev/null; echo $?)" \
	    "  the session host outlived sshd"
	is "$(grep -c 'started with backend' "$LOG")" "$n_started" "  no new session was started"
	after "sshd restart ($4)"
done

# ---- cut for longer than the keepalive, then restored --------------------------------

IFS='|'
set -f
for peer in $CUTS; do
	IFS=$IFS0
	set +f
	set -- $peer
	name="link cut for 4.5 s > --dead-after 2 s ($5 new connections, $4 backend: $1 deltas at $2/s)"
	turn_start relayhost "$1" "$2" "$3"
	turn_mark || diag "the turn did not reach delta $3: $(cat "$T/res")"
	relay_cmd stall "$5"
	sleep 4.5
	relay_cmd "$6"
	turn_end
	is "$RES" "$(printf '%s\n' "$RES" | grep "^RESULT end=completed deltas=$1 exit=0 ")" \
	    "$name: resumed, every delta once and in order, exit 0" || diag "$ERR"
	like "$ERR" "connection to relayhost lost \\(no answer from the server\\)" \
	    "  the silence is noticed by the client's keepalive"
	like "$ERR" "reconnected to relayhost after ([2-9]|[1-9][0-9])\\.[0-9] s; resuming 1 session" \
	    "  the client resumes once the link is back (2 s or more after it noticed)"
	is "$(grep -c 'started with backend' "$LOG")" "$n_started" "  no new session was started"
	if [ "$(grep -c 'detached (' "$LOG")" -gt "$n_detached" ]; then
		diag "  (the server saw the connection end, through sshd's keepalive or the client's new one)"
	fi
	after "cut $5 ($4)"
done

# ---- cut for longer than the detach timeout ------------------------------------------

# The link stays down until the server has ended the session (DetachTimeout after
# it noticed: at once for a reset, by sshd's keepalive for a silent link), and a
# second more.
IFS='|'
set -f
for peer in $EXPIRIES; do
	IFS=$IFS0
	set +f
	set -- $peer
	turn_start relayhost "$1" "$2" "$3"
	turn_mark || diag "the turn did not reach delta $3: $(cat "$T/res")"
	relay_cmd "$5" "$6"
	t_cut=$(now_ms)
	log_wait 'detach timeout' "$n_expired" 60 ||
	    diag "the server did not end the session within 60 s"
	sleep 1
	relay_cmd "$7"
	secs=$((($(now_ms) - t_cut) / 1000))
	name="link cut for $secs s > DetachTimeout ${DETACH} s ($5+$6, $4 backend: $1 deltas at $2/s)"
	turn_end
	end=$(printf '%s\n' "$RES" | sed -n 's/^RESULT end=\([a-z]*\) .*/\1/p')
	rc=$(printf '%s\n' "$RES" | sed -n 's/^RESULT .* exit=\([-0-9]*\) .*/\1/p')
	ok "$([ "$end" = eof ] && [ -n "$rc" ] && [ "$rc" != 0 ]; echo $?)" \
	    "$name: the client ends, nonzero ($rc), what it got in order" || diag "$RES" "$ERR"
	like "$ERR" "codex-connect: remote session ended: session expired" \
	    "  saying so: $(printf '%s\n' "$ERR" | sed -n 's/^codex-connect: remote session ended: //p')" ||
	    diag "$ERR"
	is "$(grep -c 'started with backend' "$LOG")" "$n_started" "  no new session was started instead"
	is "$(grep -c 'detach timeout' "$LOG")" "$((n_expired + 1))" \
	    "  the server ended it by the detach timeout"
	is "$(grep -c 'a resume came after it expired' "$LOG")" "$((n_late + 1))" \
	    "  and answered the late resume"
	n_late=$((n_late + 1))
	after "expired $5+$6 ($4)"
done

as_remote "$SUB" stop -f "$T/conf" >/dev/null 2>&1
is "$(procs)" "" "after codex-subsystem stop nothing of ours runs"

done_testing
