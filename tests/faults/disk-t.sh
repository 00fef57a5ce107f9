#!/bin/sh
# disk-t.sh - the session journal while the client is slow or away (issue 13,
# faults). A framed turn of the fake app server (tunnel-probe over `ssh -s` to a
# real OpenSSH sshd on 127.0.0.1) streams far more than JournalMemory +
# JournalDisk while the client does not read:
#
#   1. the client stops reading for a while, then reads everything;
#   2. the client is disconnected for a while, then resumes;
#   3. JournalDir is a small tmpfs that fills up (ENOSPC), JournalDisk is larger;
#   4. the session host runs under RLIMIT_FSIZE (EFBIG; SIGXFSZ must not kill it).
#
# Each time: the journal stays within its bounds (memory, disk), the backend is no
# longer read (messages_out stands still: back-pressure) instead of the journal
# growing, and when the client comes back it gets every delta exactly once and in
# order, with the same content as a reference turn whose journal never touched
# the disk (SHA-256 of the deltas); a spill that fails is said in the log and in
# `codex-subsystem status`, the host survives, and no journal space stays in use.
# Figures (journal bytes, how long the backend waited, the host's peak RSS) are
# printed.
#
# `make check` streams 30,000 deltas of 1,000 bytes against 1 MiB + 4 MiB;
# CXS_FAULTS_FULL=1 (make check-faults) 200,000 against 4 MiB + 32 MiB. The tmpfs
# needs a private mount namespace (unshare -m, root); without it case 3 is skipped.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$PWD}"
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/sshd.sh"

B=$top_builddir
SUB=$B/subsystem/codex-subsystem
PROBE=$B/tests/tunnel-probe
FAKE=$B/tests/fake-app-server
SAMPLE=$top_srcdir/tests/faults/sample.py

sshd_available || skip_all "$SSHD_WHY"
for f in "$SUB" "$PROBE" "$FAKE"; do
	[ -x "$f" ] || skip_all "not built: $f"
done
command -v python3 >/dev/null 2>&1 || skip_all "python3 not installed"
unset SSH_AUTH_SOCK SSH_AGENT_PID SSH_ASKPASS DISPLAY CODEX_CLI

if [ -n "${CXS_VALGRIND-}" ]; then
	# make check-valgrind: the host runs under memcheck, many times slower, and
	# its RSS is valgrind's: smaller bounds and turns, longer waits, no RSS check.
	MEM_K=256 DISK_K=1024 DELTAS=8000 AWAY=8 TMPFS_K=1024 FSIZE_K=1024
elif [ "${CXS_FAULTS_FULL:-}" = 1 ]; then
	MEM_K=4096 DISK_K=32768 DELTAS=200000 AWAY=6 TMPFS_K=8192 FSIZE_K=8192
else
	MEM_K=1024 DISK_K=4096 DELTAS=30000 AWAY=2.5 TMPFS_K=2048 FSIZE_K=2048
fi
DSIZE=1000
# A journal past its memory bound still takes the rest of one read of the backend
# (64 KiB) and the line in it: what memory may exceed its bound by.
MEM_SLACK_K=256
# The host's peak RSS may exceed JournalMemory by its own footprint and buffers.
HWM_SLACK_K=12288

tap_tmpdir T

# The tmpfs lives in a mount namespace of sshd's own, so it goes away with sshd
# whatever happens to this script.
mkdir -p "$T/tmpfs" && chmod 700 "$T/tmpfs"
TMPFS=0
REAL_SSHD=$SSHD
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null 2>&1 &&
    unshare -m --propagation private sh -c \
    "mount -t tmpfs -o size=64k cxs-probe '$T/tmpfs'" 2>/dev/null; then
	cat >"$T/sshd-ns" <<EOF
#!/bin/sh
exec unshare -m --propagation private /bin/sh -c 'mount -t tmpfs -o size=${TMPFS_K}k,mode=0700 cxs-faults "\$0" && exec "$REAL_SSHD" "\$@"' "$T/tmpfs" "\$@"
EOF
	chmod 755 "$T/sshd-ns"
	SSHD=$T/sshd-ns
	TMPFS=1
fi

# One configuration per case, each with a runtime directory of its own (hosts
# sharing one would supersede each other). The reference never spills.
for c in ref bound tmpfs fsize; do
	case $c in
	ref) jd=$T/journal-r jdisk=0 ;;
	bound) jd=$T/journal jdisk=${DISK_K}K ;;
	tmpfs) jd=$T/tmpfs jdisk=1G ;;
	fsize) jd=$T/journal-f jdisk=1G ;;
	esac
	cat >"$T/conf-$c" <<CONF
Backend fake $FAKE
DefaultBackend fake
LoginShell no
RuntimeDir $T/run-$c
JournalDir $jd
JournalMemory ${MEM_K}K
JournalDisk $jdisk
LogFile $T/log-$c
DetachTimeout 60s
IdleTimeout 120s
CONF
done
sshd_start "$T/sshd" "Subsystem codex-ref $SUB -f $T/conf-ref" \
    "Subsystem codex-bound $SUB -f $T/conf-bound" \
    "Subsystem codex-tmpfs $SUB -f $T/conf-tmpfs" \
    "Subsystem codex-fsize $SUB -f $T/conf-fsize" || bail "cannot start sshd"
# newest first: sshd and its sessions, then the session hosts
for c in ref bound tmpfs fsize; do
	at_exit "$SUB stop -f $T/conf-$c >/dev/null 2>&1"
done
at_exit "sshd_stop"

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

# val KEY TEXT: the value of " KEY=value" in TEXT.
val() {
	printf '%s\n' "$2" | sed -n "s/.* $1=\\([^ ]*\\).*/\\1/p" | head -n 1
}

host_pid() {
	"$SUB" status --json -f "$T/conf-$1" | python3 -c '
import json, sys
print(next((h["host_pid"] for h in json.load(sys.stdin)["hosts"] if h["current"]), 0))'
}

# vmhwm PID: the peak RSS of PID in KiB; vmhwm_reset PID starts it afresh.
vmhwm() {
	awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null
}
vmhwm_reset() {
	echo 5 >"/proc/$1/clear_refs" 2>/dev/null
}

# turn CASE NAME PROBE-OPTION...: one turn on codex-CASE, sampled while it runs;
# sets OUT (the probe's line) and SMP (the sampler's).
turn() {
	_c=$1
	_n=$2
	shift 2
	timeout -k 5 120 "$PROBE" --timeout 100 --deltas "$DELTAS" \
	    --prompt "delta-size=$DSIZE" "$@" -- \
	    ssh -F "$SSH_CONFIG" -s testhost "codex-$_c" >"$T/$_n.probe" 2>&1 &
	_p=$!
	python3 "$SAMPLE" --sub "$SUB" --conf "$T/conf-$_c" --backend fake \
	    --pid "$_p" --secs 110 --text "$T/$_n.status" >"$T/$_n.sample" 2>&1
	wait "$_p"
	OUT=$(cat "$T/$_n.probe")
	SMP=$(cat "$T/$_n.sample")
	diag "$_n: $OUT"
	diag "$_n: $SMP"
}

# bounded NAME MEM_K DISK_K: the journal stayed within its bounds and the backend
# was held back while the client was not reading.
bounded() {
	_mem=$(val max_mem "$SMP")
	_disk=$(val max_disk "$SMP")
	_stall=$(val stall "$SMP")
	ok "$([ -n "$_mem" ] && [ "$_mem" -le $((($2 + MEM_SLACK_K) * 1024)) ]; echo $?)" \
	    "$1: journal memory peaked at $_mem bytes (bound ${2} KiB + ${MEM_SLACK_K} KiB)"
	ok "$([ -n "$_disk" ] && [ "$_disk" -le $(($3 * 1024)) ]; echo $?)" \
	    "$1: journal disk peaked at $_disk bytes (bound ${3} KiB)"
	ok "$(awk -v s="$_stall" 'BEGIN { exit !(s >= 1.0) }'; echo $?)" \
	    "$1: back-pressure: the backend was not read for ${_stall} s (at $(val stall_msgs "$SMP") messages of a $DELTAS-delta turn)"
}

# delivered NAME: every delta once, in order, and the reference's content.
delivered() {
	like "$OUT" "^OK deltas=$DELTAS " "$1: every delta arrived exactly once, in order"
	is "$(val delta_sha256 "$OUT")" "$REF_SUM" "$1: the deltas' content matches the reference turn"
}

plan_lazy

# ---- the reference: the same turn, its journal never on disk -------------------
turn ref ref
like "$OUT" "^OK deltas=$DELTAS " "reference turn: $DELTAS deltas of $DSIZE bytes in $(val seconds "$OUT") s"
is "$(val max_disk "$SMP")" 0 "reference turn: JournalDisk 0, nothing spilled"
REF_SUM=$(val delta_sha256 "$OUT")
[ -n "$REF_SUM" ] || bail "no reference digest"

# ---- 1. the client stops reading ---------------------------------------------
turn bound bound-start --deltas 10
hp=$(host_pid bound)
vmhwm_reset "$hp"
turn bound paused --pause-at 100 --pause-secs "$AWAY"
delivered "client paused ${AWAY} s"
bounded "client paused ${AWAY} s" "$MEM_K" "$DISK_K"
ok "$([ "$(val max_disk "$SMP")" -gt 0 ]; echo $?)" "client paused: the journal spilled to disk"
h=$(vmhwm "$hp")
rss_ok "$([ -n "$h" ] && [ "$h" -le $((MEM_K + HWM_SLACK_K)) ]; echo $?)" \
    "client paused: session host peak RSS $h KiB (JournalMemory $MEM_K KiB + $HWM_SLACK_K)"

# ---- 2. the client is disconnected -------------------------------------------
vmhwm_reset "$hp"
turn bound away --cut-every 100 --max-cuts 1 --away "$AWAY"
delivered "client away ${AWAY} s"
like "$OUT" " resumes=1 " "client away: the session was resumed"
like "$(val states "$SMP")" "detached" "client away: the session was detached meanwhile"
bounded "client away ${AWAY} s" "$MEM_K" "$DISK_K"
h=$(vmhwm "$hp")
rss_ok "$([ -n "$h" ] && [ "$h" -le $((MEM_K + HWM_SLACK_K)) ]; echo $?)" \
    "client away: session host peak RSS $h KiB"
is "$(host_pid bound)" "$hp" "the session host is the same process throughout"

# ---- 3. a full disk (tmpfs) -----------------------------------------------------
# tmpfs_used: bytes in use on the tmpfs, seen through sshd's root.
tmpfs_used() {
	python3 -c 'import os, sys; s = os.statvfs(sys.argv[1]); print((s.f_blocks - s.f_bfree) * s.f_frsize)' \
	    "/proc/$(cat "$T/sshd/sshd.pid")/root$T/tmpfs" 2>&1
}

if [ "$TMPFS" = 1 ]; then
	# The host keeps a few bytes of state of its own in JournalDir.
	turn tmpfs tmpfs-start --deltas 10
	used0=$(tmpfs_used)
	turn tmpfs tmpfs --pause-at 100 --pause-secs "$AWAY"
	delivered "tmpfs of $TMPFS_K KiB full"
	like "$(val errors "$SMP")" "No_space_left_on_device" \
	    "tmpfs full: status says the journal cannot spill (ENOSPC)"
	like "$(cat "$T/tmpfs.status" 2>/dev/null)" "journal cannot spill \\(No space left on device\\)" \
	    "tmpfs full: so does codex-subsystem status"
	like "$(cat "$T/log-tmpfs")" "session [0-9]+: the journal cannot spill to $T/tmpfs: No space left on device; [0-9]+ bytes held in memory, the backend waits until the client reads" \
	    "tmpfs full: the log says why the session waits"
	bounded "tmpfs full" "$MEM_K" "$TMPFS_K"
	unlike "$(cat "$T/log-tmpfs")" "exited with signal|went away" "tmpfs full: nothing crashed"
	is "$(tmpfs_used)" "$used0" \
	    "tmpfs full: the journal's space is given back once the client has read everything ($used0 bytes of host state stay)"
else
	skip "no private mount namespace for a tmpfs (needs root and unshare -m)" 10
fi

# ---- 4. RLIMIT_FSIZE on the session host ------------------------------------------
turn fsize fsize-start --deltas 10
hp=$(host_pid fsize)
prlimit --pid "$hp" --fsize=$((FSIZE_K * 1024)) 2>/dev/null ||
    python3 -c 'import resource, sys; n = int(sys.argv[2]); resource.prlimit(int(sys.argv[1]), resource.RLIMIT_FSIZE, (n, n))' \
    "$hp" $((FSIZE_K * 1024))
like "$(cat "/proc/$hp/limits")" "^Max file size +$((FSIZE_K * 1024)) " \
    "RLIMIT_FSIZE of $FSIZE_K KiB set on the session host (pid $hp)"
turn fsize fsize --pause-at 100 --pause-secs "$AWAY"
delivered "RLIMIT_FSIZE"
is "$(host_pid fsize)" "$hp" "RLIMIT_FSIZE: the session host survived (SIGXFSZ ignored)"
like "$(val errors "$SMP")" "File_too_large" "RLIMIT_FSIZE: status says the journal cannot spill (EFBIG)"
like "$(cat "$T/log-fsize")" "the journal cannot spill to $T/journal-f: File too large" \
    "RLIMIT_FSIZE: the log says so"
bounded "RLIMIT_FSIZE" "$MEM_K" "$FSIZE_K"

# ---- afterwards -------------------------------------------------------------------
for c in ref bound tmpfs fsize; do
	i=0
	while :; do
		n=$("$SUB" status --json -f "$T/conf-$c" | python3 -c '
import json, sys
print(sum(len(h["sessions"]) for h in json.load(sys.stdin)["hosts"]))')
		[ "$n" = 0 ] || [ $i -ge 50 ] && break
		sleep 0.1
		i=$((i + 1))
	done
	is "$n" 0 "$c: every session ended with its client"
done

done_testing
