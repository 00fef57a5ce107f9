#!/bin/sh
# kill-t.sh - kill -9 anywhere (issue 13). Each iteration streams one turn from the
# fake app server through `codex-connect HOST --stdio` (framed, resumable) and a real
# OpenSSH sshd on 127.0.0.1 to a throw-away remote user, and SIGKILLs one process at
# a random point of the stream: codex-connect, the channel's codex-subsystem, the
# session host (`codex-subsystem host`) or the backend. The peer is fast, a backend
# that sleeps between deltas, or a client that stops reading now and then (the
# journal spills to disk). After each iteration:
#
#   - the client resumed and got every delta exactly once, in order (exit 0), or it
#     ended with "remote session ended: WHY" on stderr and a nonzero exit, and what
#     it got before is an in-order prefix; nothing hangs. A killed channel process
#     is always resumed; the backend's death is reported with its signal; a killed
#     session host takes its sessions with it (the resume is refused: "unknown
#     session"); a backend killed inside a line never gets the cut line to the
#     client (checked first, with a backend that dies so on purpose);
#   - codex-connect killed: codex-connect keeps its resume token in memory only,
#     so no later process can resume that session; it is left detached on the
#     server (status says so) and ends when DetachTimeout (3 s here) runs out;
#   - no process of ours is left beyond that grace: codex-connect, channel
#     codex-subsystem, backend, the user's sshd session; one session host may stay
#     (it lives IdleTimeout without sessions), holding no journal;
#   - the journal leaves no file behind (it spills to an unlinked file: while a
#     session is detached its descriptor shows "(deleted)"), and no survivor holds
#     a descriptor into the journal directory;
#   - a new session starts at once and runs a turn (no stale socket or lock).
#
# A host killed from outside counts towards the "this machine kills session hosts"
# rule (PROTOCOL.md 6: from the second, channels run attached). The kills here are
# deliberate, so after checking that the kill was counted, the test removes
# JournalDir/hosts/killed as the log tells a user to.
#
# Iterations: 8 in `make check`, 100 with CXS_FAULTS_FULL=1 (make check-faults), or
# CXS_FAULTS_ITER. The plan (victim, peer, kill point) comes from a seed, printed
# first: CXS_FAULTS_SEED=S replays it, CXS_FAULTS_ONLY=I runs only iteration I of it.
# Needs root (throw-away users). By hand, from the build directory:
#   top_srcdir=.. top_builddir=$PWD sh ../tests/faults/kill-t.sh
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

if [ -n "${CXS_FAULTS_ITER:-}" ]; then
	N_ITER=$CXS_FAULTS_ITER
elif [ "${CXS_FAULTS_FULL:-}" = 1 ]; then
	N_ITER=100
else
	N_ITER=8
fi
SEED=${CXS_FAULTS_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
DETACH=3        # DetachTimeout, seconds
# The backend's last words after its EOF (the host's EOF -> TERM -> KILL steps
# are 3 s each), the host's 1 s housekeeping tick and a loaded machine.
GRACE=$((DETACH + 9))

tap_tmpdir T
chmod 755 "$T"
. "$top_srcdir/tests/faults/faults.sh"
faults_user cxs-h3-kill || bail "useradd failed"
JDIR=$FU_HOME/journal
LOG=$FU_HOME/subsystem.log
cat >"$T/conf" <<CONF
Backend fake $FAKE
Backend cutter $T/cutter
DefaultBackend fake
LoginShell no
RuntimeDir %h/run
JournalDir %h/journal
LogFile %h/subsystem.log
LogLevel VERBOSE
JournalMemory 64K
DetachTimeout ${DETACH}s
IdleTimeout 120s
CONF
chmod 644 "$T/conf"
# A backend that answers, then is killed in the middle of writing a line.
cat >"$T/cutter" <<'EOF'
#!/bin/sh
read -r line
printf '%s\n' '{"id":1,"result":{"userAgent":"cutter/1"}}'
printf '%s' '{"method":"item/agentMessage/delta","params":{"delta":"cut sho'
kill -9 $$
EOF
chmod 755 "$T/cutter"

sshd_start "$T/sshd" "Subsystem codex $SUB -f $T/conf" || bail "cannot start sshd"
chmod 755 "$T/sshd"
chmod 644 "$SSHD_DIR/authorized_keys"
at_exit "as_remote $SUB stop -f $T/conf >/dev/null 2>&1"
faults_ssh_config "$T/cfg" testhost "$SSHD_PORT"
CC="$CONNECT -F $T/cfg testhost --stdio"

# drive OUT ARG...: fdrive.py turn ARG... with its result in OUT, in the background
# so that a test stopped meanwhile stops it (and with it its codex-connect).
DRV=
at_exit 'kill $DRV 2>/dev/null'
drive() {
	_out=$1
	shift
	python3 "$FD" turn "$@" >"$_out" 2>&1 &
	DRV=$!
	wait "$DRV"
	DRV=
}

# The plan: victims in equal shares, shuffled; a peer and a kill point each.
python3 - "$SEED" "$N_ITER" >"$T/plan" <<'PY'
import random, sys
r = random.Random(int(sys.argv[1]))
n = int(sys.argv[2])
victims = (["connect", "subsystem", "host", "backend"] * (n // 4 + 1))[:n]
r.shuffle(victims)
# peer: deltas, rate (per second; 0 = as fast as it can), the client's pauses
peers = {"fast": (4000, "0", ""), "steady": (3000, "4000", ""),
         "slowbackend": (60, "50", ""), "slowclient": (6000, "0", "1500:0.3")}
for i, v in enumerate(victims, 1):
    p = r.choice(sorted(peers))
    n_d, rate, slow = peers[p]
    print(i, v, p, n_d, rate, slow or "-", r.randrange(n_d))
PY

diag "seed $SEED, $N_ITER iterations (replay: CXS_FAULTS_SEED=$SEED; one of them: also CXS_FAULTS_ONLY=I)"
plan_lazy

# Nothing may run before the first iteration.
wait_clean 5
is "$LEFT" "" "nothing of ours runs before the first iteration"

# A backend killed in the middle of a line: the cut line is not a message.
printf '%s\n' '{"id":1,"method":"initialize","params":{"clientInfo":{"name":"kill-t","version":"1"}}}' |
    timeout $((30 * FAULTS_SLOW)) $CONNECT -F "$T/cfg" --backend cutter testhost --stdio \
    >"$T/out" 2>"$T/err"
rc=$?
is "$(cat "$T/out")" '{"id":1,"result":{"userAgent":"cutter/1"}}' \
    "a backend killed inside a line: the client gets the whole messages before it, not the cut one"
like "$rc $(cat "$T/err")" "^[1-9][0-9]* codex-connect: remote session ended: backend cutter exited with signal 9" \
    "  and a nonzero exit with the reason"
wait_clean 5

t_start=$(date +%s)
stats=
max_expire=0
while read -r i victim peer nd rate slow at; do
	[ -n "${CXS_FAULTS_ONLY:-}" ] && [ "$i" != "$CXS_FAULTS_ONLY" ] && continue
	what="#$i: $victim killed after delta $at of $nd ($peer)"
	# The previous iteration's check session is over (its CLOSE was answered).
	wait_clean 5 || diag "#$i: before the kill, still running: $LEFT"
	host_before=$(procs | awk '$1 == "host" { print $2 }')
	n_expired=$(grep -c 'detach timeout' "$LOG" 2>/dev/null)
	slowopt=
	[ "$slow" != - ] && slowopt="--slow-read $slow"
	drive "$T/res" --deltas "$nd" --rate "$rate" $slowopt --kill-at "$at" \
	    --victim "$victim" --uid "$FU_UID" --fake "$FAKE" --timeout $((60 * FAULTS_SLOW)) \
	    --stderr "$T/err" -- $CC
	res=$(cat "$T/res")
	t_kill=$(now_ms)
	err=$(cat "$T/err")
	end=$(printf '%s\n' "$res" | sed -n 's/^RESULT end=\([a-z]*\) .*/\1/p')
	got=$(printf '%s\n' "$res" | sed -n 's/^RESULT .* deltas=\([0-9]*\) .*/\1/p')
	rc=$(printf '%s\n' "$res" | sed -n 's/^RESULT .* exit=\([-0-9]*\) .*/\1/p')
	said=$(printf '%s\n' "$err" | sed -n 's/^codex-connect: remote session ended: //p' |
	    head -n 1)
	outcome=bad
	case $victim in
	connect)
		# SIGKILL: no word from it, by definition; the server keeps the session.
		# What it had written before it died may hold the whole turn.
		[ "$rc" = -9 ] && [ -n "$end" ] && outcome=detached
		;;
	subsystem)
		[ "$end" = completed ] && [ "$got" = "$nd" ] && [ "$rc" = 0 ] &&
		    printf '%s\n' "$err" | grep -q "reconnected to testhost after .*resuming 1 session" &&
		    outcome=resumed
		;;
	*)
		if [ "$end" = completed ] && [ "$got" = "$nd" ] && [ "$rc" = 0 ]; then
			outcome=resumed
		elif [ -n "$end" ] && [ "$rc" != 0 ] && [ -n "$said" ]; then
			outcome=ended
		fi
		;;
	esac
	case $victim:$outcome in
	*:bad)
		ok 1 "$what: resumed whole, or ended with a reason" ||
		    diag "driver: $res" "stderr: $err"
		;;
	connect:*)
		ok 0 "$what: the client is gone (status $rc, $got deltas read)" ;;
	*:resumed)
		ok 0 "$what: resumed, all $nd deltas once and in order, exit 0" ;;
	*:ended)
		ok 0 "$what: ended after $got deltas in order, exit $rc: $said" ;;
	esac
	case $victim in
	backend)
		[ "$outcome" = ended ] &&
		    like "$said" "backend fake exited with signal 9" "  #$i: the reason names the backend and its signal"
		;;
	host)
		[ "$outcome" = ended ] &&
		    like "$said" "^unknown session" "  #$i: the resume is refused: the session is gone"
		killed=$(cat "$JDIR/hosts/killed" 2>/dev/null)
		is "${killed:-none}" 1 "  #$i: the host's death was counted (JournalDir/hosts/killed)"
		rm -f "$JDIR/hosts/killed"
		;;
	connect)
		# Right after the kill: the session waits, detached, for a resume that
		# cannot come (the token died with the process).
		# (The host learns it when sshd closes the channel: a moment.)
		k=0
		while st=$(as_remote "$SUB" status -f "$T/conf" 2>&1) &&
		    ! printf '%s\n' "$st" | grep -q ' fake .* detached' && [ $k -lt 20 ]; do
			sleep 0.1
			k=$((k + 1))
		done
		like "$st" " fake .* detached" "  #$i: its session is detached on the server"
		jl=$(journal_left "$JDIR")
		is "$(printf '%s\n' "$jl" | grep '^file ')" "" "  #$i: no journal file while it is detached" ||
		    diag "$jl"
		if printf '%s\n' "$jl" | grep -q '^fd '; then
			unlike "$jl" '^fd .*[^)]$' "  #$i: its spill file is unlinked: $(printf '%s\n' "$jl" |
			    grep -c '^fd ') descriptor(s), all (deleted)"
		fi
		;;
	esac

	# Nothing of ours left beyond the grace (DetachTimeout when a session was left
	# behind, otherwise at once); at most the one session host.
	if [ "$victim" = connect ]; then lim=$GRACE; else lim=5; fi
	wait_clean "$lim" "$t_kill"
	is "$LEFT" "" "  #$i: no process of ours left within $((lim * FAULTS_SLOW)) s of the end (gone after $WAITED s)"
	if [ "$victim" = connect ]; then
		max_expire=$(awk -v a="$max_expire" -v b="$WAITED" 'BEGIN { print (b > a ? b : a) }')
		is "$(($(grep -c 'detach timeout' "$LOG") - n_expired))" 1 \
		    "  #$i: it ended by the detach timeout" &&
		ok "$(awk -v w="$WAITED" -v d="$DETACH" 'BEGIN { exit !(w >= d) }'; echo $?)" \
		    "  #$i: not before it ($WAITED s >= $DETACH s)" &&
		[ "$outcome" = detached ] && [ -z "$LEFT" ] && outcome=expired
	fi
	is "$(journal_left "$JDIR")" "" "  #$i: the journal left no file, and no process holds one"

	# A new session at once: no stale socket, lock or session in the way.
	drive "$T/res" --deltas 5 --timeout $((15 * FAULTS_SLOW)) --stderr "$T/err2" -- $CC
	res=$(cat "$T/res")
	like "$res" "^RESULT end=completed deltas=5 exit=0 " "  #$i: a new session starts and runs a turn ($(printf '%s' "$res" |
	    sed -n 's/.*secs=\([0-9.]*\).*/\1 s/p'))" || diag "$(cat "$T/err2")"
	host_after=$(procs | awk '$1 == "host" { print $2 }')
	if [ "$victim" != host ] && [ -n "$host_before" ] && [ "$host_before" != "$host_after" ]; then
		diag "#$i: the session host changed ($host_before -> $host_after)"
	fi
	stats="$stats$victim $outcome $peer
"
done <"$T/plan"
t_end=$(date +%s)

summary=$(printf '%s' "$stats" | awk '
	{ n++; c[$1 " " $2]++; p[$3]++ }
	END {
		printf "%d iterations:", n
		printf " codex-connect %d (left detached, then expired: %d),", \
		    c["connect expired"] + c["connect detached"] + c["connect bad"], \
		    c["connect expired"]
		split("subsystem host backend", v, " ")
		for (i = 1; i <= 3; i++)
			printf " %s %d resumed / %d ended plainly / %d bad%s", v[i], \
			    c[v[i] " resumed"], c[v[i] " ended"], c[v[i] " bad"], i < 3 ? "," : ""
		printf "; peers: fast %d, steady %d, slow backend %d, slow client %d", \
		    p["fast"], p["steady"], p["slowbackend"], p["slowclient"]
	}')
diag "kill-t: $summary; slowest expiry ${max_expire} s (DetachTimeout ${DETACH} s); $((t_end - t_start)) s; seed $SEED"

# The end: stopping the host leaves nothing at all.
as_remote "$SUB" stop -f "$T/conf" >/dev/null 2>&1
is "$(procs)" "" "after codex-subsystem stop nothing of ours runs"
is "$(journal_left "$JDIR")" "" "and the journal directory holds no file"

done_testing
