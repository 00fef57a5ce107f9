#!/bin/sh
# sshd-t.sh - codex-subsystem under a real OpenSSH sshd on 127.0.0.1: plain mode
# through `ssh -s`, framed mode, a cut link resumed mid-turn, a client that stops
# reading (bounded host memory), backend crash, another Unix user kept out, and
# forwarding disabled. No process of ours may listen on TCP or UDP.
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/sshd.sh"
. "$top_srcdir/tests/lib/nolisten.sh"

B=$top_builddir
SUB=$B/subsystem/codex-subsystem
PROBE=$B/tests/tunnel-probe
FAKE=$B/tests/fake-app-server
sshd_available || skip_all "$SSHD_WHY"

tap_tmpdir T
chmod 1777 "$T"  # other users create their own run-UID directories here
cat >"$T/conf" <<CONF
Backend fake $FAKE
DefaultBackend fake
LoginShell no
RuntimeDir $T/run-%i
JournalDir $T/journal-%i
LogFile $T/log-%i
LogLevel VERBOSE
IdleTimeout 20s
CONF
chmod 644 "$T/conf"
at_exit "$SUB stop -f $T/conf >/dev/null 2>&1"

sshd_start "$T/sshd" "AllowTcpForwarding no" "DisableForwarding yes" \
	"Subsystem codex $SUB -f $T/conf" || bail "sshd did not start"
SSHCMD="ssh -F $SSH_CONFIG -s testhost codex"
INIT='{"id":1,"method":"initialize","params":{"clientInfo":{"name":"t","version":"1"}}}'

plan_lazy

out=$( (echo "$INIT"; sleep 1) | sshd_ssh -s testhost codex 2>"$T/err")
like "$out" '^\{"id":1,"result":\{"userAgent":"fake-app-server' "ssh -s HOST codex is a working stdio app server"

run_ok "framed mode through sshd: 10,000 deltas" timeout 120 "$PROBE" --deltas 10000 -- $SSHCMD
like "$TAP_OUT" '^OK deltas=10000' "every delta once, in order"

run_ok "SSH connection cut twice in a 100,000-delta turn, resumed" \
	timeout 300 "$PROBE" --deltas 100000 --cut-every 40000 -- $SSHCMD
like "$TAP_OUT" '^OK deltas=100000 cuts=2 resumes=2' "every delta exactly once, in order"

# A client that stops reading for 10 s while the backend streams 1,000,000 deltas.
"$PROBE" --deltas 1000000 --pause-at 1000 --pause-secs 10 --timeout 400 -- $SSHCMD >"$T/slow" 2>&1 &
probe=$!
at_exit "kill $probe 2>/dev/null"
peak=0
i=0
while kill -0 "$probe" 2>/dev/null && [ $i -lt 4000 ]; do
	hp=$(pgrep -f "codex-subsystem host .*-f $T/conf\$" | head -n 1)
	if [ -n "$hp" ]; then
		v=$(awk '/^VmHWM:/ { print $2 }' "/proc/$hp/status" 2>/dev/null)
		[ -n "$v" ] && [ "$v" -gt "$peak" ] && peak=$v
		if ! grep -q 'attached' "$T/status-mid" 2>/dev/null && [ $((i % 10)) -eq 5 ]; then
			"$SUB" status -f "$T/conf" >"$T/status-mid" 2>&1
		fi
	fi
	i=$((i + 1))
	sleep 0.1
done
wait "$probe"
like "$(cat "$T/slow")" '^OK deltas=1000000' "1,000,000 deltas all arrive once the client reads again"
diag "session host peak RSS: $peak kB"
if [ -n "${CXS_SANITIZED-}" ]; then
	skip "sanitizer builds inflate RSS (shadow memory, quarantine)"
elif [ -n "${CXS_VALGRIND-}" ]; then
	skip "valgrind inflates RSS (make check-valgrind)"
else
	ok "$([ "$peak" -gt 0 ] && [ "$peak" -le 32768 ]; echo $?)" "the session host's peak RSS stays within 32 MiB ($peak kB)"
fi
like "$(cat "$T/status-mid")" 'fake .* attached' "status on the host shows the session while it streams"

run_ok "backend crash mid-turn reaches the client as CLOSE 7" \
	timeout 60 "$PROBE" --deltas 100 --prompt crash=5 --expect-close 7 -- $SSHCMD

nolisten_check_user_procs codex-subsystem fake-app-server >"$T/nl" 2>&1
ok $? "none of our processes holds a listening TCP/UDP socket"
like "$NOLISTEN_FOUND" '[0-9]' "(the check saw our processes: $(echo $NOLISTEN_FOUND | wc -w))"

# Another Unix user.
other=cxs-test-other
if [ "$(id -u)" -eq 0 ] && { id "$other" >/dev/null 2>&1 || useradd -M -d /nonexistent -s /bin/sh "$other" 2>/dev/null; } &&
    usermod -p '*' "$other" 2>/dev/null; then
	at_exit "su -s /bin/sh $other -c '$SUB stop -f $T/conf' >/dev/null 2>&1"
	# a session of ours, left running, whose token the other user will try
	timeout 60 "$PROBE" --deltas 10 --no-close --save "$T/tok" -- $SSHCMD >/dev/null 2>&1
	chmod 644 "$T/tok"
	sock=$(ls "$T"/run-0/host-*.sock | head -n 1)
	out=$(su -s /bin/sh "$other" -c "python3 -c \"import socket; s=socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET); s.connect('$sock')\"" 2>&1)
	like "$out" 'Permission denied' "another user cannot reach our session host's socket"
	sed "s|^RuntimeDir .*|RuntimeDir $T/run-0|" "$T/conf" >"$T/conf0"; chmod 644 "$T/conf0"
	out=$(su -s /bin/sh "$other" -c "$SUB status -f $T/conf0" 2>&1)
	like "$out" 'owned by uid 0, not by us.*refusing' "nor use our runtime directory"
	chmod 755 "$T/sshd"; chmod 644 "$SSH_CONFIG" "$SSHD_KNOWN_HOSTS" "$SSHD_DIR/authorized_keys"
	cp "$SSHD_CLIENT_KEY" "$T/otherkey"; chown "$other" "$T/otherkey"; chmod 600 "$T/otherkey"
	out=$(su -s /bin/sh "$other" -c "timeout 60 $PROBE --adopt $T/tok --expect-close 4 -- ssh -F $SSH_CONFIG -i $T/otherkey -o IdentitiesOnly=yes -l $other -s testhost codex" 2>&1)
	like "$out" '^OK closed code=4' "nor resume our session with our token"
	# SO_PEERCRED: a host run by the other user refuses us even where we can reach it
	mkdir -p "$T/orun" && chown "$other" "$T/orun" && chmod 700 "$T/orun"
	sed "s|^RuntimeDir .*|RuntimeDir $T/orun|; s|^LogFile .*|LogFile none|; s|^JournalDir .*|JournalDir $T/orun|" "$T/conf" >"$T/oconf"
	chmod 644 "$T/oconf"
	su -s /bin/sh "$other" -c "$SUB host -f $T/oconf" >/dev/null 2>&1 &
	i=0; while ! ls "$T"/orun/host-*.sock >/dev/null 2>&1 && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
	out=$(python3 -c "
import socket
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
import glob
s.connect(glob.glob('$T/orun/host-*.sock')[0])
try:
    s.send(b'\x03\x00\x00\x00')
    s.settimeout(5)
    print('answer' if s.recv(100) else 'closed')
except ConnectionError:
    print('closed')" 2>&1)
	is "$out" "closed" "a session host drops a peer of another uid (SO_PEERCRED)"
	su -s /bin/sh "$other" -c "$SUB stop -f $T/oconf" >/dev/null 2>&1
else
	skip "needs root and useradd for a second user" 5
fi

sshd_stop
done_testing
