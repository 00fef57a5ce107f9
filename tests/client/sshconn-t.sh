#!/bin/sh
# sshconn-t.sh - end-to-end tests of client/sshconn.c through tests/client/ssh-probe
# against private OpenSSH sshds on 127.0.0.1: host key verification (known,
# unknown, accept-new, changed, hashed, other type), authentication (key file,
# passphrase through SSH_ASKPASS, agent, wrong key), channel and subsystem
# refusals (unknown subsystem, MaxSessions), TCP and DNS failures, ProxyJump,
# ProxyCommand.
#
# Run by `make check`, or by hand from the build directory:
#   ../tests/client/sshconn-t.sh
# Every probe runs in a new session (setsid), so no prompt can reach a terminal
# the test was started from, and under timeout(1).

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$PWD}"
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/sshd.sh"

PROBE=${SSH_PROBE:-$top_builddir/tests/client/ssh-probe}
PROBE_TIMEOUT=${PROBE_TIMEOUT:-30}

sshd_available || skip_all "$SSHD_WHY"
[ -x "$PROBE" ] || skip_all "ssh-probe not built: $PROBE"
command -v setsid >/dev/null 2>&1 || skip_all "setsid(1) not installed"
command -v ssh-agent >/dev/null 2>&1 || skip_all "ssh-agent not installed"
plan_lazy

# Nothing of the caller's may leak in: no agent, no askpass, no display.
unset SSH_AUTH_SOCK SSH_AGENT_PID SSH_ASKPASS SSH_ASKPASS_REQUIRE DISPLAY \
    WAYLAND_DISPLAY

tap_tmpdir tmp

# last_line TEXT: its last line. A remote command's output comes last; the
# account's rc files (root's .bashrc here runs pyenv) may print before it.
last_line() {
	printf '%s\n' "$1" | tail -n 1
}

# probe ARG...: runs ssh-probe without a controlling terminal; stdout and stderr
# end up in $OUT, the exit status in $RC.
probe() {
	OUT=$(setsid -w timeout -k 5 "$PROBE_TIMEOUT" "$PROBE" "$@" 2>&1)
	RC=$?
}

# fingerprint PUBKEYFILE: "SHA256:..." as ssh-keygen prints it.
fingerprint() {
	ssh-keygen -lf "$1" | awk '{ print $2 }'
}

# ---- three private sshds: the main one, one with MaxSessions 1, a jump host -----

sshd_start "$tmp/max" "MaxSessions 1" "Subsystem echo /bin/cat" ||
    bail "cannot start the MaxSessions sshd"
MAX_PORT=$SSHD_PORT
MAX_DIR=$SSHD_DIR

sshd_start "$tmp/jump" || bail "cannot start the jump sshd"
JUMP_PORT=$SSHD_PORT
JUMP_DIR=$SSHD_DIR
JUMP_LOG=$SSHD_LOG

sshd_start "$tmp/main" "Subsystem echo /bin/cat" || bail "cannot start sshd"
KEY=$SSHD_CLIENT_KEY
KH=$SSHD_KNOWN_HOSTS
HOSTPORT="[127.0.0.1]:$SSHD_PORT"
HOSTFP=$(fingerprint "$SSHD_DIR/host_ed25519.pub")

# The jump host and the MaxSessions host accept the main client key too.
cat "$KEY.pub" >>"$JUMP_DIR/authorized_keys"
cat "$KEY.pub" >>"$MAX_DIR/authorized_keys"

# Keys for the authentication tests.
ssh-keygen -q -t ed25519 -N 'correct horse' -C pp -f "$tmp/ppkey" </dev/null
ssh-keygen -q -t ed25519 -N '' -C agent -f "$tmp/agentkey" </dev/null
ssh-keygen -q -t ed25519 -N '' -C wrong -f "$tmp/wrongkey" </dev/null
ssh-keygen -q -t ed25519 -N '' -C otherhost -f "$tmp/otherhost" </dev/null
ssh-keygen -q -t ecdsa -N '' -C otherhost -f "$tmp/otherecdsa" </dev/null
cat "$tmp/ppkey.pub" "$tmp/agentkey.pub" >>"$SSHD_DIR/authorized_keys"

# Our own ssh_config: several aliases on the same sshds. Hosts without an
# IdentityFile line get no key file unless the test gives one.
CFG=$tmp/ssh_config
cat >"$CFG" <<EOF
Host testhost
	HostName 127.0.0.1
	Port $SSHD_PORT
	User $SSHD_USER
	IdentityFile $KEY
	UserKnownHostsFile $KH
	GlobalKnownHostsFile /dev/null
	StrictHostKeyChecking yes
Host nokey
	HostName 127.0.0.1
	Port $SSHD_PORT
	User $SSHD_USER
	UserKnownHostsFile $KH
	GlobalKnownHostsFile /dev/null
	StrictHostKeyChecking yes
Host maxhost
	HostName 127.0.0.1
	Port $MAX_PORT
	User $SSHD_USER
	IdentityFile $KEY
	UserKnownHostsFile $MAX_DIR/known_hosts
	GlobalKnownHostsFile /dev/null
	StrictHostKeyChecking yes
Host jumphost
	HostName 127.0.0.1
	Port $JUMP_PORT
	User $SSHD_USER
	IdentityFile $KEY
	UserKnownHostsFile $JUMP_DIR/known_hosts
	GlobalKnownHostsFile /dev/null
	StrictHostKeyChecking yes
Host behind
	HostName 127.0.0.1
	Port $SSHD_PORT
	User $SSHD_USER
	ProxyJump jumphost
	IdentityFile $KEY
	UserKnownHostsFile $KH
	GlobalKnownHostsFile /dev/null
	StrictHostKeyChecking yes
EOF

# ---- a matching known_hosts entry ----------------------------------------------

OUT=$(printf 'hello\n' | setsid -w timeout "$PROBE_TIMEOUT" "$PROBE" -F "$CFG" \
    testhost echo 2>&1)
RC=$?
is "$RC:$(last_line "$OUT")" "0:hello" "known host: the echo subsystem answers"

big=$tmp/big
head -c 3000000 /dev/urandom >"$big"
OUT=$(setsid -w timeout "$PROBE_TIMEOUT" "$PROBE" -F "$CFG" testhost echo \
    <"$big" | cksum)
is "$OUT" "$(cksum <"$big")" "3 MB echoed back intact (both directions at once)"

probe -F "$CFG" -e testhost 'echo exec works'
is "$RC:$(last_line "$OUT")" "0:exec works" "exec channel"

# ---- the host as typed ------------------------------------------------------------

direct="-o UserKnownHostsFile=$KH -o IdentityFile=$KEY -o GlobalKnownHostsFile=/dev/null"
for h in "$SSHD_USER@127.0.0.1:$SSHD_PORT" "[127.0.0.1]:$SSHD_PORT" \
    "ssh://$SSHD_USER@127.0.0.1:$SSHD_PORT"; do
	# shellcheck disable=SC2086
	probe -F /dev/null $direct -e "$h" 'echo typed'
	is "$RC:$(last_line "$OUT")" "0:typed" "host typed as $h"
done
probe -F /dev/null "$SSHD_USER@-oProxyCommand=x" echo </dev/null
like "$OUT" "invalid host name" "a host name that looks like an option is refused"

# ---- unknown host keys --------------------------------------------------------

: >"$tmp/empty_kh"
probe -F "$CFG" -o UserKnownHostsFile="$tmp/empty_kh" \
    -o StrictHostKeyChecking=ask testhost echo </dev/null
isnt "$RC" 0 "unknown host without a terminal: refused"
like "$OUT" "no host key is known for \\[127\\.0\\.0\\.1\\]:$SSHD_PORT" \
    "  the message names the host"
printf '%s\n' "$OUT" | grep -qF -- "ED25519 $HOSTFP"
ok $? "  and shows the key type and SHA256 fingerprint"
like "$OUT" "no terminal" "  and says there is no terminal to ask on"
is "$(cat "$tmp/empty_kh")" "" "  and known_hosts is left alone"

probe -B -F "$CFG" -o UserKnownHostsFile="$tmp/empty_kh" \
    -o StrictHostKeyChecking=ask testhost echo </dev/null
like "$OUT" "BatchMode forbids asking" "unknown host in batch mode: refused, says why"

probe -F "$CFG" -o UserKnownHostsFile="$tmp/empty_kh" testhost echo </dev/null
like "$OUT" "StrictHostKeyChecking=yes" "StrictHostKeyChecking yes (ssh_config): refused"

rm -f "$tmp/new_kh"
OUT=$(echo accepted | setsid -w timeout "$PROBE_TIMEOUT" "$PROBE" -F "$CFG" \
    -o UserKnownHostsFile="$tmp/new_kh" -o StrictHostKeyChecking=accept-new \
    testhost echo 2>&1)
RC=$?
is "$RC" 0 "accept-new: connects to an unknown host"
like "$OUT" "^accepted$" "  and the channel works"
like "$OUT" "Permanently added '\\[127\\.0\\.0\\.1\\]:$SSHD_PORT'" "  and says so"
like "$(cat "$tmp/new_kh" 2>/dev/null)" \
    "^\\[127\\.0\\.0\\.1\\]:$SSHD_PORT ssh-ed25519 " "  and writes known_hosts"
probe -F "$CFG" -o UserKnownHostsFile="$tmp/new_kh" testhost echo </dev/null
is "$RC" 0 "the written entry is accepted with StrictHostKeyChecking=yes"

# ---- changed keys ---------------------------------------------------------------

{
	echo "# line 1: a comment"
	echo "[127.0.0.1]:1 $(cut -d' ' -f1,2 "$tmp/otherhost.pub")"
	echo "[127.0.0.1]:$SSHD_PORT $(cut -d' ' -f1,2 "$tmp/otherhost.pub")"
} >"$tmp/changed_kh"
probe -F "$CFG" -o UserKnownHostsFile="$tmp/changed_kh" testhost echo </dev/null
isnt "$RC" 0 "changed host key: refused"
like "$OUT" "REMOTE HOST IDENTIFICATION HAS CHANGED" "  with the loud warning"
like "$OUT" "offending ED25519 key in $tmp/changed_kh:3" "  naming file:line"
like "$OUT" "ssh-keygen -f \"$tmp/changed_kh\" -R \"\\[127\\.0\\.0\\.1\\]:$SSHD_PORT\"" \
    "  and how to remove the entry"

probe -F "$CFG" -o UserKnownHostsFile="$tmp/changed_kh" \
    -o StrictHostKeyChecking=no testhost echo </dev/null
isnt "$RC" 0 "changed host key: refused even with StrictHostKeyChecking=no"

# ---- hashed known_hosts ---------------------------------------------------------

cp "$KH" "$tmp/hashed_kh"
ssh-keygen -q -H -f "$tmp/hashed_kh" >/dev/null 2>&1
like "$(cat "$tmp/hashed_kh")" '^\|1\|' "ssh-keygen -H hashed the entry"
probe -F "$CFG" -o UserKnownHostsFile="$tmp/hashed_kh" testhost echo </dev/null
is "$RC" 0 "hashed known_hosts entry: accepted"

cp "$tmp/changed_kh" "$tmp/changed_hashed_kh"
ssh-keygen -q -H -f "$tmp/changed_hashed_kh" >/dev/null 2>&1
probe -F "$CFG" -o UserKnownHostsFile="$tmp/changed_hashed_kh" testhost echo \
    </dev/null
isnt "$RC" 0 "changed key, hashed entry: refused"
like "$OUT" "offending ED25519 key in $tmp/changed_hashed_kh:3" \
    "  naming the hashed entry's line"

# A key of another type on record, and the host no longer offers that type.
echo "[127.0.0.1]:$SSHD_PORT $(cut -d' ' -f1,2 "$tmp/otherecdsa.pub")" \
    >"$tmp/other_kh"
probe -F "$CFG" -o UserKnownHostsFile="$tmp/other_kh" testhost echo </dev/null
isnt "$RC" 0 "a key of another type on record: refused"
like "$OUT" "on record for it is of type ECDSA \\($tmp/other_kh:1\\)" \
    "  naming the type and file:line"

# ---- authentication ---------------------------------------------------------------

cat >"$tmp/askpass" <<EOF
#!/bin/sh
echo "\$1" >>"$tmp/askpass.log"
echo 'correct horse'
EOF
chmod 755 "$tmp/askpass"
OUT=$(echo unlocked | SSH_ASKPASS=$tmp/askpass SSH_ASKPASS_REQUIRE=force \
    setsid -w timeout "$PROBE_TIMEOUT" "$PROBE" -F "$CFG" -i "$tmp/ppkey" \
    nokey echo 2>&1)
RC=$?
is "$RC:$(last_line "$OUT")" "0:unlocked" "passphrase-protected key unlocked through SSH_ASKPASS"
like "$(cat "$tmp/askpass.log" 2>/dev/null)" "passphrase for key '$tmp/ppkey'" \
    "  the askpass program was asked for that key"

printf '#!/bin/sh\necho wrong\n' >"$tmp/askpass-wrong"
chmod 755 "$tmp/askpass-wrong"
OUT=$(SSH_ASKPASS=$tmp/askpass-wrong SSH_ASKPASS_REQUIRE=force \
    setsid -w timeout "$PROBE_TIMEOUT" "$PROBE" -F "$CFG" -i "$tmp/ppkey" \
    nokey echo 2>&1 </dev/null)
RC=$?
isnt "$RC" 0 "wrong passphrase: refused"
like "$OUT" "Bad passphrase" "  after saying the passphrase was bad"

probe -F "$CFG" -i "$tmp/ppkey" nokey echo </dev/null
like "$OUT" "a key passphrase was not given" \
    "passphrase key without terminal or askpass: skipped, and the error says so"

agent_sock=$tmp/agent.sock
eval "$(ssh-agent -s -a "$agent_sock")" >/dev/null ||
    bail "cannot start ssh-agent"
at_exit "kill $SSH_AGENT_PID 2>/dev/null"
ssh-add -q "$tmp/agentkey" 2>/dev/null
OUT=$(echo agent | setsid -w timeout "$PROBE_TIMEOUT" "$PROBE" -v -F "$CFG" \
    nokey echo 2>&1)
RC=$?
like "$OUT" "^agent$" "agent authentication (no identity file)"
like "$OUT" "Offering the keys of the agent" "  through the agent"
kill "$SSH_AGENT_PID" 2>/dev/null
unset SSH_AUTH_SOCK SSH_AGENT_PID

probe -F "$CFG" -i "$tmp/wrongkey" -o IdentitiesOnly=yes nokey echo </dev/null
isnt "$RC" 0 "wrong key: refused"
like "$OUT" "Permission denied for $SSHD_USER@nokey \\(tried: publickey $tmp/wrongkey; server offers: publickey" \
    "  the message lists what was tried and what the server offers"

probe -F "$CFG" -i "$tmp/nonexistent" nokey echo </dev/null
like "$OUT" "Identity file $tmp/nonexistent not accessible" \
    "a missing -i file is named"

# ---- channels -----------------------------------------------------------------

probe -F "$CFG" testhost nosuch </dev/null
isnt "$RC" 0 "unknown subsystem: refused"
like "$OUT" "the nosuch subsystem is not registered on testhost" "  says not registered"
probe -F "$CFG" testhost codex </dev/null
like "$OUT" "codex-subsystem register" "missing codex subsystem: says how to register it"

probe -F "$CFG" -n 1 maxhost echo </dev/null
is "$RC" 0 "MaxSessions 1: one channel opens"
probe -F "$CFG" -n 2 maxhost echo </dev/null
isnt "$RC" 0 "MaxSessions 1: a second channel on the same connection fails"
like "$OUT" "channel 2: .*MaxSessions" "  and the message names MaxSessions"

# ---- network failures ------------------------------------------------------------

closed=$(_sshd_pick_port)
probe -F "$CFG" -p "$closed" testhost echo </dev/null
isnt "$RC" 0 "closed port: fails"
like "$OUT" "cannot connect to testhost \\(127\\.0\\.0\\.1\\) port $closed: Connection refused" \
    "  cannot connect to HOST port N: reason"

probe -F "$CFG" testhots echo </dev/null
like "$OUT" "cannot connect to testhots port 22: .*did you mean testhost" \
    "unknown name close to an alias: suggests the alias"

probe -F "$CFG" -o NoSuchOption=1 testhost echo </dev/null
is "$RC" 2 "unknown -o option: usage error"
like "$OUT" "unknown option -o NoSuchOption" "  named in the message"

# ---- ProxyJump ------------------------------------------------------------------

jumps_before=$(grep -c "Accepted publickey" "$JUMP_LOG")
OUT=$(echo jumped | setsid -w timeout "$PROBE_TIMEOUT" "$PROBE" -F "$CFG" \
    behind echo 2>&1)
RC=$?
is "$RC:$(last_line "$OUT")" "0:jumped" "ProxyJump (ssh_config) through a second sshd"
jumps_after=$(grep -c "Accepted publickey" "$JUMP_LOG")
is "$((jumps_after - jumps_before))" 1 "  which authenticated us once"

OUT=$(head -c 1000000 "$big" | setsid -w timeout "$PROBE_TIMEOUT" "$PROBE" \
    -F "$CFG" -o ProxyJump=jumphost,jumphost testhost echo | cksum)
is "$OUT" "$(head -c 1000000 "$big" | cksum)" \
    "-o ProxyJump with two hops: 1 MB echoed intact"

probe -F "$CFG" -o ProxyJump=jumphost -p "$closed" testhost echo </dev/null
isnt "$RC" 0 "ProxyJump to a closed port: fails"
like "$OUT" "jump host jumphost cannot open a connection to 127\\.0\\.0\\.1 port $closed" \
    "  and names the jump host and the target"

# ---- ProxyCommand ------------------------------------------------------------------

OUT=$(echo proxied | setsid -w timeout "$PROBE_TIMEOUT" "$PROBE" -F "$CFG" \
    -o "ProxyCommand=ssh -o BatchMode=yes -F $CFG -W %h:%p jumphost" \
    testhost echo 2>&1)
is "$?:$OUT" "0:proxied" "ProxyCommand (ssh -W through the jump host)"

probe -F "$CFG" -o ProxyCommand=false testhost echo </dev/null
like "$OUT" "cannot connect to testhost \\(127\\.0\\.0\\.1\\) port $SSHD_PORT: the ProxyCommand exited with status 1" \
    "a ProxyCommand that fails: says so"

done_testing
