#!/bin/sh
# load-t.sh - many sessions at once and many connects in a row (issue 13, load),
# against one private OpenSSH sshd on 127.0.0.1 whose remote account is a
# throw-away user with /bin/sh, one session host, the fake app server as backend:
#
#   0. The driver (tests/load/load.py) on the fake's stdio: a repeated delta or
#      one of another session fails.
#   1. Concurrent sessions (load.py sessions): 1, 10 and 50 sessions, each
#      streaming 10,000 deltas tagged with its own name (the fake's tag=), all
#      connected first and then started together. Two ways, each on a fresh
#      session host: --no-share (an SSH connection, sshd process and
#      codex-subsystem per session, so the session host is all they share:
#      its load alone) and shared (one SSH connection whose codex-connect master
#      relays every channel, as users run it by default; MaxSessions 60 so the
#      50 channels and the master's spare fit on it). Asserted: each session
#      gets exactly its own deltas, once, in order, and exits 0; the host's RSS
#      above its idle base per session, at the streaming peak (VmHWM), is at
#      most 9 MiB (the 8 MiB JournalMemory and 1 MiB) and at most twice the
#      previous phase's + 256 KiB (linear or better); no session starves: the
#      slowest stream time is at most 3x the median + 500 ms and, in full runs,
#      when the first session completes every other has 20% of its deltas.
#      Figures in a table, the single session in its first row.
#   2. Connect/disconnect cycles (load.py cycles: connect, initialize answered,
#      stdin closed, exit 0), 1,000 shared and 1,000 --no-share, on a new host.
#      Counted before and after: the host's fds, our processes (by argv[0]: the
#      remote user's, and our codex-connect), the files in the runtime, journal
#      and log directories. Asserted: the same counts once settled (20 s at
#      most), the same host process, its RSS grown by at most half a KiB a
#      cycle (256 KiB at least), the master's fds unchanged and its RSS within
#      the same bound, the log and its rotated copy within 2 x (LogMax + 4 KiB).
#
# Without CXS_LOAD_FULL=1 (make check) it runs briefly: 1 and 5 sessions of
# 1,000 deltas, 50 cycles of each kind (about 15 s). `make check-load` runs it
# in full (about 3 minutes on 2 CPUs). Needs root (a throw-away user). By hand,
# from the build directory:
#   top_srcdir=.. top_builddir=$PWD CXS_LOAD_FULL=1 sh ../tests/load/load-t.sh

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$PWD}"
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/sshd.sh"
. "$top_srcdir/tests/lib/users.sh"

B=$top_builddir
CONNECT=$B/client/codex-connect
SUB=$B/subsystem/codex-subsystem
FAKE=$B/tests/fake-app-server
LOAD=$top_srcdir/tests/load/load.py

sshd_available || skip_all "$SSHD_WHY"
users_available || skip_all "$USERS_WHY"
for f in "$CONNECT" "$SUB" "$FAKE"; do
	[ -x "$f" ] || skip_all "not built: $f"
done
command -v python3 >/dev/null 2>&1 || skip_all "python3 not installed"
unset SSH_AUTH_SOCK SSH_AGENT_PID SSH_ASKPASS DISPLAY CODEX_CLI

if [ "${CXS_LOAD_FULL:-}" = 1 ]; then
	FULL=1 PHASES="1 10 50" DELTAS=10000 CYCLES=1000
else
	FULL=0 PHASES="1 5" DELTAS=1000 CYCLES=50
fi
# The log's rotation size (small, so the cycles rotate it).
LOGMAX_K=64

# mem_ok STATUS DESC: ok, but skipped in sanitizer builds (./dev asan sets
# CXS_SANITIZED=1), whose allocator holds freed memory in a quarantine.
mem_ok() {
	if [ "${CXS_SANITIZED:-0}" = 1 ]; then
		skip "sanitizer build (its quarantine keeps freed memory): $2"
	else
		ok "$1" "$2"
	fi
}

tap_tmpdir T
chmod 755 "$T"
USERS_FAKE=$FAKE
U=cxs-load
users_make "$U" /bin/sh "$T/home" || bail "useradd failed"
cat >"$T/conf" <<CONF
Backend fake $FAKE
DefaultBackend fake
LoginShell no
RuntimeDir %h/run
JournalDir %h/journal
LogFile %h/log/subsystem.log
LogMax ${LOGMAX_K}K
IdleTimeout 10m
CONF
chmod 644 "$T/conf"
sshd_start "$T/sshd" "Subsystem codex $SUB -f $T/conf" "MaxSessions 60" ||
    bail "cannot start sshd"
chmod 755 "$T/sshd"
chmod 644 "$SSHD_DIR/authorized_keys"
as_user() {
	su -s /bin/sh "$U" -c "HOME=$T/home $*"
}
at_exit "as_user 'timeout 30 $SUB stop -f $T/conf' >/dev/null 2>&1"

mkdir -m 700 "$T/cm"
cat >"$T/cfg" <<EOF
Host devbox
	HostName 127.0.0.1
	Port $SSHD_PORT
	User $U
	IdentityFile $SSHD_CLIENT_KEY
	IdentitiesOnly yes
	IdentityAgent none
	UserKnownHostsFile $SSHD_DIR/known_hosts
	StrictHostKeyChecking yes
	BatchMode yes
	ControlPath $T/cm/%C
	ControlPersist 60
EOF
CC="$CONNECT -F $T/cfg"
at_exit "timeout 20 $CC -O exit devbox >/dev/null 2>&1"

# load ARG...: tests/load/load.py ARG..., its output in $OUT (and $T/load.out),
# its exit status in $RC.
load() {
	timeout -k 5 900 python3 "$LOAD" "$@" >"$T/load.out" 2>"$T/load.err"
	RC=$?
	OUT=$(cat "$T/load.out" "$T/load.err")
}

# field KEY [WORD]: the word after WORD (else after KEY) on $OUT's line
# starting with KEY.
field() {
	printf '%s\n' "$OUT" | awk -v k="$1" -v w="${2:-}" '$1 == k {
		if (w == "") { print $2; exit }
		for (i = 2; i < NF; i++) if ($i == w) { print $(i + 1); exit } }'
}

# The session host's pid (the one serving new sessions).
host_pid() {
	as_user "timeout 20 $SUB status -f $T/conf --json" 2>/dev/null | python3 -c '
import json, sys
try:
    print(" ".join(str(h["host_pid"]) for h in json.load(sys.stdin)["hosts"]
                   if h.get("current")))
except ValueError:
    pass'
}

# kb PID FIELD: VmRSS, VmHWM... of PID in KiB.
kb() {
	awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status" 2>/dev/null
}

# Our processes, running (zombies left to a slow init do not count): the remote
# user's by name, and our codex-connect (client or master) of this test.
# Named by argv[0] (the host, started from /proc/self/exe, has "exe" for comm).
procs() {
	ps -e -o stat=,user:20=,args= | awk -v u="$U" -v cfg="$T/cfg" '
	$1 ~ /^Z/ { next }
	{ c = $3; sub(/.*\//, "", c); sub(/:$/, "", c) }
	$2 == u { n[c]++ }
	c == "codex-connect" && index($0, cfg) { n[c]++ }
	END { for (c in n) printf "%s:%d\n", c, n[c] }' | sort | tr '\n' ' '
}

# Files under the runtime and journal directories, and the log directory's
# entries other than the log and its one rotated copy.
files() {
	for d in run journal; do
		printf '%s:%s ' "$d" "$(find "$T/home/$d" -mindepth 1 2>/dev/null | wc -l)"
	done
	printf 'log-other:%s' "$(ls -A "$T/home/log" 2>/dev/null |
	    grep -cvx 'subsystem\.log\(\.1\)\{0,1\}')"
}

# counts HOSTPID: one line with everything a leak would change.
counts() {
	echo "host-fds:$(ls "/proc/$1/fd" 2>/dev/null | wc -l) $(procs)$(files)"
}

plan_lazy

# ---- 0. the driver sees what it must --------------------------------------------
# Straight on the fake app server's stdio (no SSH): whole turns pass; a delta
# repeated, or one of another session, fails that session.
load sessions --n 3 --deltas 20 --timeout 30 -- "$FAKE"
is "$(printf '%s\n' "$OUT" | grep -E '^(sessions|fail)')" "sessions 3 complete 3 deltas 60" \
    "load.py on the fake app server: 3 sessions complete"
load sessions --n 3 --deltas 20 --timeout 30 -- sh -c \
    "$FAKE | sed -u '/\"s1:d7 \"/p'"
is "$(printf '%s\n' "$OUT" | grep -E '^(sessions|fail)')" "fail s1 delta 8 is 's1:d7 ', not 's1:d8 ' (turn)
sessions 3 complete 2 deltas 40" "  a delta repeated fails its session"
load sessions --n 3 --deltas 20 --timeout 30 -- sh -c \
    "$FAKE | sed -u 's/\"s2:d5 \"/\"s0:d5 \"/'"
is "$(printf '%s\n' "$OUT" | grep -E '^(sessions|fail)')" "fail s2 delta 5 is 's0:d5 ', not 's2:d5 ' (turn)
sessions 3 complete 2 deltas 40" "  a delta of another session fails the session that got it"

# ---- 1. concurrent sessions -------------------------------------------------------
# sessions MODE: the phases of $PHASES sessions on a fresh host, MODE "no-share"
# or "shared"; leaves the table's columns in $T/table.MODE.
sessions() {
	mode=$1
	if [ "$mode" = no-share ]; then
		cmd="$CC --no-share devbox --stdio"
	else
		cmd="$CC devbox --stdio"
	fi
	as_user "timeout 30 $SUB stop -f $T/conf" >/dev/null 2>&1
	timeout 20 $CC -O exit devbox >/dev/null 2>&1
	# The host starts with a first connect; its idle RSS is the base.
	load cycles --n 1 -- $cmd
	is "$RC" 0 "$mode: a first connect starts the session host"
	hp=$(host_pid)
	like "$hp" '^[0-9]+$' "  its pid: $hp"
	base=$(kb "$hp" VmRSS)
	: >"$T/table.$mode"
	prev_g= prev_n=
	for n in $PHASES; do
		logins0=$(grep -c "Accepted publickey for $U " "$SSHD_LOG")
		load sessions --n "$n" --deltas "$DELTAS" --host-pid "$hp" --timeout 600 -- $cmd
		logins=$(($(grep -c "Accepted publickey for $U " "$SSHD_LOG") - logins0))
		is "$(printf '%s\n' "$OUT" | grep '^fail' | head -5)" "" \
		    "$mode, $n sessions x $DELTAS deltas: no session failed"
		is "$(printf '%s\n' "$OUT" | grep '^sessions')" \
		    "sessions $n complete $n deltas $((n * DELTAS))" \
		    "  all $n complete: each its own $DELTAS deltas, once, in order, exit 0"
		[ "$RC" = 0 ] || diag "$(printf '%s\n' "$OUT" | sed 5q)"
		if [ "$mode" = no-share ]; then
			is "$logins" "$n" "  over $n SSH connections"
		else
			ok "$([ "$logins" -le 1 ]; echo $?)" \
			    "  over one SSH connection ($logins new logins)"
		fi
		smin=$(field stream_ms min) smed=$(field stream_ms median)
		smax=$(field stream_ms max)
		cmed=$(field connect_ms median) cmax=$(field connect_ms max)
		ready=$(field rss_kb ready) hwm=$(field rss_kb hwm)
		pmin=$(field progress_at_first_pct min)
		# Memory per session above the idle host: while connected (the
		# sessions' fixed cost) and at the peak of streaming (journals
		# included, until the clients' acks free them).
		gr=$(( (ready - base) / n )) g=$(( (hwm - base) / n ))
		rate=$(awk -v n="$n" -v d="$DELTAS" -v w="$(field wall_ms)" \
		    'BEGIN { printf "%.0f", (w > 0 ? n * d * 1000 / w : 0) }')
		printf '%s %s %s %s %s %s %s %s %s %s %s %s\n' "$n" "$cmed" "$cmax" \
		    "$smin" "$smed" "$smax" "$rate" "$ready" "$hwm" "$gr" "$g" \
		    "${pmin:--}" >>"$T/table.$mode"
		# Each session's peak memory stays within its journal bound
		# (JournalMemory, 8 MiB by default) plus 1 MiB of buffers.
		mem_ok "$([ "$g" -le $((9 * 1024)) ]; echo $?)" \
		    "  host memory per session at the peak: $g KiB (at most 9 MiB: its 8 MiB journal and 1 MiB)"
		if [ -n "$prev_n" ]; then
			# Linear or better: per-session growth at most doubles
			# from the last phase (+256 KiB for the allocator's
			# steps), where a superlinear cost would multiply it.
			mem_ok "$([ "$g" -le $((2 * prev_g + 256)) ]; echo $?)" \
			    "  per-session growth $g KiB with $n sessions <= 2 x $prev_g KiB with $prev_n + 256 (linear, not worse)"
		fi
		if [ "$n" -gt 1 ]; then
			# No session starves: the slowest finishes within 3x
			# the median (+500 ms, for short runs), where serving
			# sessions one after another would stretch it to N x.
			ok "$([ "$smax" -le $((3 * smed + 500)) ]; echo $?)" \
			    "  no session starves: stream time max $smax ms <= 3 x median $smed ms + 500"
		fi
		if [ "$n" -gt 1 ] && [ "$FULL" = 1 ]; then
			# When the first finished, every other had a fair
			# share: served in turn, the last would have none.
			ok "$([ "${pmin:-0}" -ge 20 ]; echo $?)" \
			    "  when the first session completed, every other had at least 20% of its deltas (least: $pmin%)"
		fi
		prev_n=$n prev_g=$g
	done
	is "$(host_pid)" "$hp" "$mode: the same session host served every phase"
}

table() {
	diag ""
	diag "$1: $DELTAS deltas per session; times from all sessions' turn/start; host RSS base $2 KiB"
	diag "$(printf '%-8s %11s %21s %9s %9s %9s %14s %6s' sessions \
	    'connect ms' 'stream ms min/med/max' deltas/s 'RSS ready' 'HWM KiB' \
	    'KiB/session' 'fair %')"
	while read -r n cmed cmax smin smed smax rate ready hwm gr g pmin; do
		diag "$(printf '%-8s %5s/%-5s %21s %9s %9s %9s %6s/%-7s %6s' "$n" "$cmed" \
		    "$cmax" "$smin/$smed/$smax" "$rate" "$ready" "$hwm" "$gr" "$g" "$pmin")"
	done <"$T/table.$1"
}

sessions no-share
base_noshare=$base
sessions shared
base_shared=$base
table no-share "$base_noshare"
table shared "$base_shared"
diag "(connect ms: median/max from spawn to thread/start answered; KiB/session: the"
diag " host's RSS above its idle base, per session, connected/at the streaming peak;"
diag " fair %: the least progress of any session when the first one completed)"

# What the host of the last phases keeps when idle: freed memory that malloc
# has not returned to the system (valgrind finds no block left in use).
diag "the shared host idle after its phases: RSS $(kb "$hp" VmRSS) KiB"

# ---- 2. connect/disconnect cycles ---------------------------------------------------
# A new host, so that no memory freed by the phases above hides a leak, warmed
# by one cycle of each kind; then no master: its spare channel comes and goes
# on its own clock, so the counts are taken without one.
as_user "timeout 30 $SUB stop -f $T/conf" >/dev/null 2>&1
timeout 20 $CC -O exit devbox >/dev/null 2>&1
load cycles --n 1 -- $CC devbox --stdio
load cycles --n 1 -- $CC --no-share devbox --stdio
hp=$(host_pid)
timeout 20 $CC -O exit devbox >/dev/null 2>&1
# settle WANT: waits (20 s at most) until the counts are WANT; leaves them in $NOW.
settle() {
	i=0
	while :; do
		NOW=$(counts "$hp")
		[ "$NOW" = "$1" ] || [ $i -ge 200 ] && break
		sleep 0.1
		i=$((i + 1))
	done
	SETTLED_MS=$((i * 100))
}
sleep 1
before=$(counts "$hp")
settle "$before"
before=$NOW
rss0=$(kb "$hp" VmRSS)
t0=$(date +%s)
# The shared cycles' master lives through them: its fds and RSS are counted
# from the first cycle, which starts it, on.
load cycles --n 1 -- $CC devbox --stdio
mp=$($CC -O check devbox 2>/dev/null | sed -n 's/.*(pid \([0-9]*\)).*/\1/p')
mfd0=$(ls "/proc/$mp/fd" 2>/dev/null | wc -l) mrss0=$(kb "$mp" VmRSS)
load cycles --n "$CYCLES" --host-pid "$hp" --timeout 900 -- $CC devbox --stdio
is "$RC" 0 "$CYCLES shared connect/initialize/close cycles, each answered and exiting 0"
[ "$RC" = 0 ] || diag "$(printf '%s\n' "$OUT" | grep '^fail' | sed 5q)"
diag "shared: $(printf '%s\n' "$OUT" | grep '^cycle_ms'); host fds/RSS KiB along: $(printf '%s\n' "$OUT" | sed -n 's/^host_fds_rss //p')"
mfd1=$(ls "/proc/$mp/fd" 2>/dev/null | wc -l) mrss1=$(kb "$mp" VmRSS)
is "$mfd1" "$mfd0" "  the master (pid $mp) holds as many fds as after the first ($mfd0)"
mbound=$((CYCLES / 2))
[ "$mbound" -lt 256 ] && mbound=256
mem_ok "$([ -n "$mrss1" ] && [ $((mrss1 - mrss0)) -le "$mbound" ]; echo $?)" \
    "  its RSS grew $((mrss1 - ${mrss0:-0})) KiB ($mrss0 -> $mrss1; at most $mbound KiB: half a KiB a cycle)"
load cycles --n "$CYCLES" --host-pid "$hp" --timeout 900 -- $CC --no-share devbox --stdio
is "$RC" 0 "$CYCLES --no-share connect/initialize/close cycles, each answered and exiting 0"
[ "$RC" = 0 ] || diag "$(printf '%s\n' "$OUT" | grep '^fail' | sed 5q)"
diag "no-share: $(printf '%s\n' "$OUT" | grep '^cycle_ms'); host fds/RSS KiB along: $(printf '%s\n' "$OUT" | sed -n 's/^host_fds_rss //p')"
t1=$(date +%s)
timeout 20 $CC -O exit devbox >/dev/null 2>&1
settle "$before"
after=$NOW
rss1=$(kb "$hp" VmRSS)
diag "before: $before; RSS $rss0 KiB"
diag "after:  $after; RSS $rss1 KiB (settled in $SETTLED_MS ms; the cycles took $((t1 - t0)) s)"
is "$after" "$before" "after $((2 * CYCLES + 1)) cycles: the same fds, processes and files"
is "$(host_pid)" "$hp" "  the same session host process"
# A leak of even 1 KiB a cycle would show over 2,000 cycles (2 MiB).
bound=$CYCLES
[ "$bound" -lt 256 ] && bound=256
mem_ok "$([ $((rss1 - rss0)) -le "$bound" ]; echo $?)" \
    "  its RSS grew $((rss1 - rss0)) KiB (at most $bound KiB: half a KiB a cycle)"
logs=$(ls -A "$T/home/log")
lsz=$(cat "$T/home/log"/* | wc -c)
diag "log directory: $(echo $logs), $lsz bytes"
ok "$([ "$lsz" -le $((2 * (LOGMAX_K * 1024 + 4096))) ]; echo $?)" \
    "  the log stays within its rotation: $lsz bytes in the log and its copy (LogMax ${LOGMAX_K}K)"

done_testing
