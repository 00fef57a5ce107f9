#!/bin/sh
# hostile-t.sh - codex-subsystem on a host other users share (issue 13): runtime,
# journal and log directories another user made, that are links or that others can
# write are refused with a message and never followed; a log file planted as a link
# is not followed; a second user can neither stop nor list the first user's
# sessions; tokens never reach the log; a backend gets the environment and umask of
# the channel that asked for its session (not the session host's, which came from
# whichever channel started it), no descriptor of ours, and our own files are
# private. Needs root (two throw-away users).
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/sshd.sh"
. "$top_srcdir/tests/lib/users.sh"

B=$top_builddir
SUB=$B/subsystem/codex-subsystem
PROBE=$B/tests/tunnel-probe
FAKE=$B/tests/fake-app-server
sshd_available || skip_all "$SSHD_WHY"
users_available || skip_all "$USERS_WHY"
for f in "$SUB" "$PROBE" "$FAKE"; do
	[ -x "$f" ] || skip_all "not built: $f"
done
unset SSH_AUTH_SOCK SSH_AGENT_PID

tap_tmpdir T
chmod 755 "$T"
mkdir -m 1777 "$T/shared"      # plays /tmp: everybody may create in it
USERS_FAKE=$FAKE
A=cxs-hos-a
O=cxs-hos-o
users_make "$A" /bin/sh "$T/home-a" || bail "useradd failed"
users_make "$O" /bin/sh "$T/home-o" || bail "useradd failed"
AUID=$(id -u "$A")
OUID=$(id -u "$O")

# The backend records what it was given, then is the fake app server.
cat >"$T/be.sh" <<EOF
#!/bin/sh
tag=\${LC_CXS_TAG:-none}
env >"\$HOME/env.\$tag"
umask >"\$HOME/umask.\$tag"
exec $FAKE
EOF
chmod 755 "$T/be.sh"

# conf NAME LINE...: a subsystem config in $T/NAME.conf (readable by both users).
conf() {
	_n=$1; shift
	{
		echo "Backend fake $T/be.sh"
		echo "DefaultBackend fake"
		echo "IdleTimeout 30s"
		echo "SetEnv CXS_SETENV=set"
		for _l in "$@"; do echo "$_l"; done
	} >"$T/$_n.conf"
	chmod 644 "$T/$_n.conf"
}
conf good "RuntimeDir $T/shared/run-%i" "JournalDir %h/journal" "LogFile %h/log/subsystem.log" \
	"LogLevel DEBUG"
conf run "RuntimeDir $T/shared/crun-%i" "JournalDir %h/journal" "LogFile none"
conf jrn "RuntimeDir $T/shared/jrun-%i" "JournalDir $T/shared/journal-%i" "LogFile none"
conf log "RuntimeDir $T/shared/lrun-%i" "JournalDir %h/journal" "LogFile $T/shared/logs-%i/s.log"
conf lnk "RuntimeDir $T/shared/krun-%i" "JournalDir %h/journal" "LogFile %h/lnk/s.log"

sshd_start "$T/sshd" "AcceptEnv LC_CXS_*" \
	"Subsystem codex $SUB -f $T/good.conf" \
	"Subsystem codex-umask umask 0027; exec $SUB -f $T/good.conf" \
	"Subsystem codex-run $SUB -f $T/run.conf" \
	"Subsystem codex-jrn $SUB -f $T/jrn.conf" \
	"Subsystem codex-log $SUB -f $T/log.conf" \
	"Subsystem codex-lnk $SUB -f $T/lnk.conf" || bail "sshd did not start"
chmod 755 "$T/sshd"; chmod 644 "$SSHD_DIR/authorized_keys" "$SSH_CONFIG" "$SSHD_KNOWN_HOSTS"
cp "$SSHD_CLIENT_KEY" "$T/key-o"; chown "$O" "$T/key-o"; chmod 600 "$T/key-o"
for c in good run jrn log lnk; do
	at_exit "su -s /bin/sh $A -c 'HOME=$T/home-a $SUB stop -f $T/$c.conf' >/dev/null 2>&1"
	at_exit "su -s /bin/sh $O -c 'HOME=$T/home-o $SUB stop -f $T/$c.conf' >/dev/null 2>&1"
done

# as USER CMD: runs CMD as USER with that user's HOME.
as() {
	_u=$1; shift
	su -s /bin/sh "$_u" -c "HOME=$T/home-${_u##*-} $*"
}
# probe SUBSYSTEM TAG ARG...: tunnel-probe as user A through sshd; output in $OUT.
probe() {
	_s=$1 _t=$2; shift 2
	OUT=$(timeout 60 "$PROBE" --timeout 50 "$@" -- env LC_CXS_TAG="$_t" \
		ssh -F "$SSH_CONFIG" -o SendEnv=LC_CXS_TAG -l "$A" -s testhost "$_s" 2>&1)
}

INIT='{"id":1,"method":"initialize","params":{"clientInfo":{"name":"t","version":"1"}}}'
plan_lazy

# ---- a backend gets the environment and umask of the channel that asked ---------
probe codex one --deltas 5 --no-close --save "$T/tok1"
like "$OUT" '^OK deltas=5' "a session of user A (left detached)"
hostpid=$(as "$A" "$SUB status -f $T/good.conf --json" | python3 -c '
import json, sys
print(json.load(sys.stdin)["hosts"][0]["host_pid"])')
like "$hostpid" '^[0-9]+$' "its session host runs (pid $hostpid)"
like "$(tr '\0' '\n' </proc/$hostpid/environ)" 'LC_CXS_TAG=one' \
	"  with the environment of the channel that started it"
probe codex-umask two --deltas 5
like "$OUT" '^OK deltas=5' "a second session on the same host, from another connection with umask 027"
is "$(as "$A" "$SUB status -f $T/good.conf --json" | python3 -c '
import json, sys
print(json.load(sys.stdin)["hosts"][0]["host_pid"])')" "$hostpid" "  served by the same session host"
e2=$(cat "$T/home-a/env.two" 2>/dev/null)
like "$e2" 'LC_CXS_TAG=two' "its backend has that channel's environment (LC_CXS_TAG=two)"
unlike "$e2" 'LC_CXS_TAG=one' "  and nothing of the first channel's"
c2=$(grep '^SSH_CONNECTION=' "$T/home-a/env.two")
c1=$(grep '^SSH_CONNECTION=' "$T/home-a/env.one")
ok "$([ -n "$c2" ] && [ "$c2" != "$c1" ]; echo $?)" "  its own SSH_CONNECTION ($c2)"
like "$e2" 'CXS_SETENV=set' "  plus SetEnv"
like "$e2" "PATH=$T/home-a/bin:" "  from the login shell (~/.profile's PATH)"
is "$(cat "$T/home-a/umask.two")" "0027" "  and its umask (0027)"
is "$(cat "$T/home-a/umask.one")" "0022" "the first backend kept its channel's umask (0022)"
# Our own files are private whatever the umask.
is "$(stat -c %a "$T/home-a/log/subsystem.log")" 600 "the log is 0600"
is "$(stat -c %a "$T/home-a/journal")" 700 "the journal directory 0700"
is "$(stat -c %a "$T/shared/run-$AUID")" 700 "the runtime directory 0700"
is "$(stat -c %a "$(ls "$T"/shared/run-$AUID/host-*.sock | head -n 1)")" 600 "the socket 0600"

# A backend holds only its stdin, stdout and stderr.
bepid=$(as "$A" "$SUB status -f $T/good.conf --json" | python3 -c '
import json, sys
for h in json.load(sys.stdin)["hosts"]:
    for s in h["sessions"]:
        if s.get("pid"): print(s["pid"])' | head -n 1)
like "$bepid" '^[0-9]+$' "the detached session's backend runs (pid $bepid)"
fds=$(ls /proc/"$bepid"/fd 2>/dev/null | sort -n | tr '\n' ' ')
# make check-valgrind: valgrind leaves its log files and the program it runs
# open in what that program starts natively (the login shell, then the
# backend); those are valgrind's, not ours.
[ -z "${CXS_VALGRIND-}" ] || fds=$(for f in $fds; do
	case $(readlink "/proc/$bepid/fd/$f") in
	*/vg/logs/vg.*.log|*/codex-subsystem) ;;
	*) printf '%s ' "$f" ;;
	esac
done)
is "$fds" "0 1 2 " "  and holds no descriptor of ours (only 0 1 2)"

# ---- tokens ----------------------------------------------------------------------
tok=$(cat "$T/tok1")
like "$tok" '^[0-9a-f]{32,}$' "the first session's token (hex, from the client)"
# A resume attempt with it (the probe's turn starts from message 1, the
# session is past that: refused, but the token went through the host).
probe codex one --deltas 3 --adopt "$T/tok1"
like "$OUT" 'resume impossible' "the token presented again reaches the session"
sz=$(wc -c <"$T/home-a/log/subsystem.log")
ok "$([ "$sz" -gt 1000 ]; echo $?)" "the host logged at DEBUG ($sz bytes)"
ok "$(! grep -qi "$tok" "$T/home-a/log/subsystem.log"; echo $?)" "  and the token appears nowhere in its log"
b64=$(python3 -c "import base64,sys; print(base64.b64encode(bytes.fromhex('$tok')).decode()[:20])")
ok "$(! grep -qF "$b64" "$T/home-a/log/subsystem.log"; echo $?)" "  neither in base64"
st=$(as "$A" "$SUB status -f $T/good.conf --json")
ok "$(! echo "$st" | grep -qi "$tok"; echo $?)" "  nor in status"

# ---- a second user ---------------------------------------------------------------
o_st=$(as "$O" "$SUB status -f $T/good.conf" 2>&1)
unlike "$o_st" "pid $hostpid" "user O's status does not list user A's session host"
as "$O" "$SUB stop -f $T/good.conf" >/dev/null 2>&1
ok "$(kill -0 "$hostpid" 2>/dev/null; echo $?)" "user O's stop leaves user A's session host running"
out=$(su -s /bin/sh "$O" -c "kill -TERM $hostpid" 2>&1)
isnt "$?" 0 "user O cannot signal it"
out=$(su -s /bin/sh "$O" -c "timeout 60 $PROBE --adopt $T/tok1 --expect-close 4 -- ssh -F $SSH_CONFIG -i $T/key-o -o IdentitiesOnly=yes -l $O -s testhost codex" 2>&1)
like "$out" '^OK closed code=4' "user O cannot resume user A's session with A's token"
sock=$(ls "$T"/shared/run-$AUID/host-*.sock | head -n 1)
out=$(su -s /bin/sh "$O" -c "python3 -c \"import socket; s=socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET); s.connect('$sock')\"" 2>&1)
like "$out" 'Permission denied' "nor connect to A's session host"

# ---- runtime directories ---------------------------------------------------------
# made by user O for A (the /tmp squatting attack)
mkdir -m 700 "$T/shared/crun-$AUID"; chown "$O" "$T/shared/crun-$AUID"
probe codex-run r1 --deltas 1
like "$OUT" "crun-$AUID is owned by uid $OUID, not by us .*refusing" \
	"a runtime directory user O created: refused, saying why"
ok "$(! ls "$T/shared/crun-$AUID" | grep -q .; echo $?)" "  nothing created in it"
# a link to a directory of A's
rm -rf "$T/shared/crun-$AUID"
mkdir -m 700 "$T/elsewhere-a"; chown "$A" "$T/elsewhere-a"
ln -s "$T/elsewhere-a" "$T/shared/crun-$AUID"
probe codex-run r2 --deltas 1
like "$OUT" "crun-$AUID is a symbolic link: refusing" "a runtime directory that is a link: refused"
ok "$(! ls "$T/elsewhere-a" | grep -q .; echo $?)" "  not followed"
# A's own, but group-writable
rm -f "$T/shared/crun-$AUID"
mkdir -m 770 "$T/shared/crun-$AUID"; chown "$A" "$T/shared/crun-$AUID"; chmod 770 "$T/shared/crun-$AUID"
probe codex-run r3 --deltas 1
like "$OUT" "crun-$AUID has mode 770; it must be 0700: refusing" "a group-writable runtime directory: refused"
chmod 700 "$T/shared/crun-$AUID"
probe codex-run r4 --deltas 1
like "$OUT" '^OK deltas=1' "once it is 0700, sessions start"

# ---- journal directories ---------------------------------------------------------
jstatus() {
	as "$A" "$SUB status -f $T/jrn.conf"
}
mkdir -m 777 "$T/shared/journal-$AUID"; chown "$O" "$T/shared/journal-$AUID"; chmod 777 "$T/shared/journal-$AUID"
probe codex-jrn j1 --deltas 5 --no-close
like "$OUT" '^OK deltas=5' "a journal directory user O created: the session still works"
like "$(jstatus)" "journals in memory only: .*journal-$AUID is owned by uid $OUID, not by us" \
	"  with journals in memory, and status says why"
ok "$(! ls -A "$T/shared/journal-$AUID" | grep -q .; echo $?)" "  nothing created in it (no host marks either)"
as "$A" "$SUB stop -f $T/jrn.conf" >/dev/null 2>&1
rm -rf "$T/shared/journal-$AUID"
ln -s "$T/elsewhere-a" "$T/shared/journal-$AUID"
probe codex-jrn j2 --deltas 5 --no-close
like "$OUT" '^OK deltas=5' "a journal directory that is a link: the session works"
like "$(jstatus)" "journals in memory only: .*journal-$AUID is a symbolic link" "  without following it"
as "$A" "$SUB stop -f $T/jrn.conf" >/dev/null 2>&1
rm -f "$T/shared/journal-$AUID"
mkdir "$T/shared/journal-$AUID"; chown "$A" "$T/shared/journal-$AUID"; chmod 757 "$T/shared/journal-$AUID"
probe codex-jrn j3 --deltas 5 --no-close
like "$(jstatus)" "journals in memory only: .*has mode 757; it must be writable by nobody else" \
	"a world-writable journal directory: refused"
as "$A" "$SUB stop -f $T/jrn.conf" >/dev/null 2>&1

# ---- log directory and file ------------------------------------------------------
mkdir -m 777 "$T/shared/logs-$AUID"; chown "$O" "$T/shared/logs-$AUID"; chmod 777 "$T/shared/logs-$AUID"
OUT=$( (echo "$INIT"; sleep 1) |
	timeout 30 ssh -F "$SSH_CONFIG" -l "$A" -s testhost codex-log 2>"$T/log-err")
like "$OUT" '"id":1,"result"' "a log directory user O created: the session still works"
# sshd drops a subsystem's stderr: the user learns it from status.
like "$(as "$A" "$SUB status -f $T/log.conf" 2>&1)" "not logging to .*logs-$AUID/s.log: .*not by us" \
	"  the log is refused; status says why"
ok "$(! ls "$T/shared/logs-$AUID" | grep -q .; echo $?)" "  nothing written there"
mkdir -p "$T/home-a/lnk"; chown "$A" "$T/home-a/lnk"; chmod 700 "$T/home-a/lnk"
echo "O's file" >"$T/o-file"; chown "$O" "$T/o-file"; chmod 666 "$T/o-file"
ln -s "$T/o-file" "$T/home-a/lnk/s.log"
OUT=$( (echo "$INIT"; sleep 1) |
	timeout 30 ssh -F "$SSH_CONFIG" -l "$A" -s testhost codex-lnk 2>"$T/lnk-err")
like "$OUT" '"id":1,"result"' "a log file planted as a link: the session works"
is "$(cat "$T/o-file")" "O's file" "  the link is not followed"
like "$(as "$A" "$SUB status -f $T/lnk.conf" 2>&1)" "not logging to .*lnk/s.log" "  status says so"

sshd_stop
done_testing
