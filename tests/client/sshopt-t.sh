#!/bin/sh
# sshopt-t.sh - codex-connect resolves ssh_config and authenticates as ssh(1)
# does (client/sshopt.c, client/auth.c, client/agent.c). Every connection case
# runs ssh(1) on the same config first as the reference, then
# tests/client/ssh-probe (the connection code of codex-connect); the resolution
# itself is compared with `ssh -G` (codex-connect -G) for several configs:
# Host patterns and negation, Match host/originalhost/user/localuser/all/exec/
# final, Include with a glob relative to ~/.ssh, several IdentityFile and
# CertificateFile lines, ProxyJump/ProxyCommand, tokens.
#
# Run by `make check`, or by hand from the build directory:
#   ../tests/client/sshopt-t.sh
# Every probe runs in a new session (setsid) under timeout(1); the sshd and the
# ssh-agent are the test's own and are ended on exit.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$PWD}"
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/sshd.sh"

PROBE=${SSH_PROBE:-$top_builddir/tests/client/ssh-probe}
CONNECT=$top_builddir/client/codex-connect
TO=${PROBE_TIMEOUT:-40}

sshd_available || skip_all "$SSHD_WHY"
[ -x "$PROBE" ] || skip_all "ssh-probe not built: $PROBE"
[ -x "$CONNECT" ] || skip_all "codex-connect not built: $CONNECT"
command -v setsid >/dev/null 2>&1 || skip_all "setsid(1) not installed"
command -v ssh-agent >/dev/null 2>&1 || skip_all "ssh-agent not installed"
plan_lazy

# Nothing of the caller's may leak in: no agent, no askpass, no display.
unset SSH_AUTH_SOCK SSH_AGENT_PID SSH_ASKPASS SSH_ASKPASS_REQUIRE DISPLAY \
    WAYLAND_DISPLAY

tap_tmpdir tmp

# ref HOST [ARG...]: ssh -F $CFG HOST 'echo ok' in batch mode; $SRC, $SOUT.
ref() {
	SOUT=$(setsid -w timeout -k 5 "$TO" ssh -F "$CFG" -o BatchMode=yes "$@" \
	    'echo ok' 2>&1 </dev/null)
	SRC=$?
}

# last_line TEXT: its last line. A remote command's "ok" comes last; the
# account's rc files (root's .bashrc here runs pyenv) may print before it.
last_line() {
	printf '%s\n' "$1" | tail -n 1
}

# probe ARG...: ssh-probe -F $CFG ARG... -e ... 'echo ok'; $RC, $OUT and the
# seconds it took in $SECS.
probe() {
	_t0=$(date +%s)
	OUT=$(setsid -w timeout -k 5 "$TO" "$PROBE" -F "$CFG" "$@" 2>&1 </dev/null)
	RC=$?
	SECS=$(($(date +%s) - _t0))
}

# ---- keys, a user CA, the sshd ------------------------------------------------

mkdir -p "$tmp/keys" "$tmp/certs"
ssh-keygen -q -t ed25519 -N '' -C ca -f "$tmp/ca" </dev/null
ssh-keygen -q -t ed25519 -N '' -C unauthorized -f "$tmp/keys/bad" </dev/null
ssh-keygen -q -t ed25519 -N '' -C certkey -f "$tmp/keys/certkey" </dev/null
ssh-keygen -q -t ed25519 -N '' -C certkey2 -f "$tmp/keys/certkey2" </dev/null
for i in 1 2 3 4 5 6; do
	ssh-keygen -q -t ed25519 -N '' -C "agentkey$i" -f "$tmp/keys/agent$i" \
	    </dev/null
done

sshd_start "$tmp/sshd" "TrustedUserCAKeys $tmp/ca.pub" ||
    bail "cannot start sshd"
KEY=$SSHD_CLIENT_KEY
KH=$SSHD_KNOWN_HOSTS
LOG=$SSHD_LOG

# User certificates: certkey's beside it (certkey-cert.pub), certkey2's where
# only CertificateFile says. Neither key is in authorized_keys.
ssh-keygen -q -s "$tmp/ca" -I certid -n "$SSHD_USER" "$tmp/keys/certkey.pub" \
    </dev/null
ssh-keygen -q -s "$tmp/ca" -I certid2 -n "$SSHD_USER" "$tmp/keys/certkey2.pub" \
    </dev/null
mv "$tmp/keys/certkey2-cert.pub" "$tmp/certs/second.pub"

# A key named with tokens, for %r %h %p in IdentityFile.
cp "$KEY" "$tmp/keys/$SSHD_USER@127.0.0.1-$SSHD_PORT"
cp "$KEY.pub" "$tmp/keys/$SSHD_USER@127.0.0.1-$SSHD_PORT.pub"

# An ssh-agent with six keys the server does not know (sshd's MaxAuthTries).
# In the foreground (-D), as our child: killed and reaped on exit.
agent_sock=$tmp/agent.sock
ssh-agent -D -a "$agent_sock" </dev/null >/dev/null 2>&1 &
agent_pid=$!
at_exit "kill $agent_pid 2>/dev/null; wait $agent_pid 2>/dev/null"
i=0
while [ ! -S "$agent_sock" ] && [ $i -lt 100 ]; do
	sleep 0.05
	i=$((i + 1))
done
[ -S "$agent_sock" ] || bail "cannot start ssh-agent"
for i in 1 2 3 4 5 6; do
	SSH_AUTH_SOCK=$agent_sock ssh-add -q "$tmp/keys/agent$i" 2>/dev/null
done

CFG=$tmp/ssh_config
cat >"$CFG" <<EOF
Host two
	IdentityFile $tmp/keys/bad
	IdentityFile $KEY
	IdentityAgent none
Host agentonly
	IdentityFile $KEY
	IdentitiesOnly yes
	IdentityAgent $agent_sock
Host agentall
	IdentityFile $KEY
	IdentityAgent $agent_sock
Host agentpub
	IdentityFile $tmp/keys/inagent.pub
	IdentitiesOnly yes
	IdentityAgent $agent_sock
Host matched
	IdentityAgent none
	IdentitiesOnly yes
Host cert1
	IdentityFile $tmp/keys/certkey
	IdentitiesOnly yes
	IdentityAgent none
Host cert2
	IdentityFile $tmp/keys/certkey2
	CertificateFile $tmp/certs/second.pub
	IdentitiesOnly yes
	IdentityAgent none
Host tokens
	IdentityFile $tmp/keys/%r@%h-%p
	IdentitiesOnly yes
	IdentityAgent none
Host *
	HostName 127.0.0.1
	Port $SSHD_PORT
	User $SSHD_USER
	UserKnownHostsFile $KH
	GlobalKnownHostsFile /dev/null
	StrictHostKeyChecking yes
	PreferredAuthentications publickey
	UpdateHostKeys no
	LogLevel ERROR
Match host 127.0.0.1 originalhost matched
	IdentityFile $KEY
EOF

# ---- two IdentityFile lines, the first not authorized --------------------------------

ref two
is "$SRC:$(last_line "$SOUT")" "0:ok" "two IdentityFile lines, the first not authorized: ssh connects"
probe -v -e two 'echo ok'
like "$OUT" "^ok$" "  codex-connect connects too"
printf '%s\n' "$OUT" | awk -v a="Offering public key $tmp/keys/bad." \
    -v b="Authenticating with $KEY." '$0 ~ "debug1: " && index($0, a) { s = 1 }
    s && index($0, b) { f = 1 } END { exit !f }'
ok $? "  after offering the first file, then the second"

# ---- IdentitiesOnly yes in the config, six keys in the agent ---------------------------

ref agentonly
is "$SRC:$(last_line "$SOUT")" "0:ok" "IdentitiesOnly yes, 6 agent keys: ssh connects"
probe -v -e agentonly 'echo ok'
like "$OUT" "^ok$" "  codex-connect connects too"
ok "$([ "$SECS" -lt 10 ] && echo 0 || echo 1)" "  promptly (${SECS}s)"
unlike "$OUT" "Offering public key agentkey" "  offering none of the agent's keys"

# Without IdentitiesOnly the six agent keys exhaust sshd's MaxAuthTries: ssh and
# codex-connect both fail, at once, and say why.
ref agentall
is "$SRC" 255 "IdentitiesOnly no, 6 agent keys first: ssh fails (MaxAuthTries)"
probe -e agentall 'echo ok'
isnt "$RC" 0 "  codex-connect fails too"
ok "$([ "$SECS" -lt 10 ] && echo 0 || echo 1)" "  promptly, no hang (${SECS}s)"
like "$OUT" "Too many authentication failures" "  saying the server gave up"
like "$OUT" "tried: publickey agentkey1 \\(agent\\), publickey agentkey2" \
    "  and listing the keys tried"

# The key in the agent too, named by an IdentityFile that is only its public
# half: the agent's matching key comes first and the agent signs.
cp "$KEY.pub" "$tmp/keys/inagent.pub"
SSH_AUTH_SOCK=$agent_sock ssh-add -q "$KEY" 2>/dev/null
ref agentpub
is "$SRC:$(last_line "$SOUT")" "0:ok" "IdentityFile naming an agent key (public half only): ssh connects"
probe -v -e agentpub 'echo ok'
like "$OUT" "^ok$" "  codex-connect connects too"
like "$OUT" "The agent signs with $tmp/keys/inagent.pub" "  the agent signing"
ref agentall
is "$SRC:$(last_line "$SOUT")" "0:ok" "the named key in the agent, IdentitiesOnly no: ssh offers it first"
probe -v -e agentall 'echo ok'
like "$OUT" "^ok$" "  codex-connect too"
unlike "$OUT" "Offering public key agentkey" "  before any other agent key"
SSH_AUTH_SOCK=$agent_sock ssh-add -q -d "$KEY.pub" 2>/dev/null

# ---- IdentityFile inside a Match block -----------------------------------------------

ref matched
is "$SRC:$(last_line "$SOUT")" "0:ok" "IdentityFile inside Match host/originalhost: ssh connects"
probe -v -e matched 'echo ok'
like "$OUT" "^ok$" "  codex-connect connects too"
like "$OUT" "Authenticating with $KEY" "  with that key"

# ---- user certificates ----------------------------------------------------------------

n0=$(grep -c "ED25519-CERT" "$LOG")
ref cert1
is "$SRC:$(last_line "$SOUT")" "0:ok" "user certificate beside the key (-cert.pub): ssh connects"
probe -v -e cert1 'echo ok'
like "$OUT" "^ok$" "  codex-connect connects too"
like "$OUT" "Authenticating with $tmp/keys/certkey-cert.pub \\(certificate\\)" \
    "  with the certificate"
ref cert2
is "$SRC:$(last_line "$SOUT")" "0:ok" "user certificate named by CertificateFile: ssh connects"
probe -v -e cert2 'echo ok'
like "$OUT" "^ok$" "  codex-connect connects too"
like "$OUT" "Authenticating with $tmp/certs/second.pub \\(certificate\\)" \
    "  with the certificate"
is "$(($(grep -c "Accepted publickey for $SSHD_USER .*ED25519-CERT" "$LOG") - n0))" 4 \
    "  sshd accepted a certificate four times (ssh twice, codex-connect twice)"

# ---- -o ControlMaster=auto on the command line -------------------------------------------

ref two -o ControlMaster=auto -o ControlPath="$tmp/cm-%C" -o ControlPersist=no
is "$SRC:$(last_line "$SOUT")" "0:ok" "-o ControlMaster=auto: ssh accepts it"
rm -f "$tmp"/cm-*
probe -o ControlMaster=auto -o ControlPath="$tmp/cm-%C" -o ControlPersist=10m \
    -e two 'echo ok'
is "$RC:$(last_line "$OUT")" "0:ok" "  codex-connect accepts it too (no connection sharing, no warning)"
OUT=$("$CONNECT" -F "$CFG" -o ControlMaster=auto -o ControlPersist=yes -G two 2>&1)
is "$?" 0 "  and so does codex-connect's command line"

# ---- tokens in IdentityFile ---------------------------------------------------------------

ref tokens
is "$SRC:$(last_line "$SOUT")" "0:ok" "IdentityFile with %r@%h-%p: ssh connects"
probe -e tokens 'echo ok'
is "$RC:$(last_line "$OUT")" "0:ok" "  codex-connect connects too"

# ---- every ssh_config keyword on the command line -------------------------------------------

OUT=$("$CONNECT" -F "$CFG" -o LocalForward="1234 h:22" -o LocalForward="1235 h:22" \
    -o SendEnv=LANG -o Compression=yes -o AddKeysToAgent=yes -G two 2>&1 >/dev/null)
is "$?" 0 "-o LocalForward, SendEnv, Compression, AddKeysToAgent: accepted"
is "$(printf '%s\n' "$OUT" | grep -c 'LocalForward is not supported')" 1 \
    "  LocalForward named once as unsupported"
unlike "$OUT" "SendEnv|Compression|AddKeysToAgent" "  the others accepted quietly"
OUT=$("$CONNECT" -F "$CFG" -o NoSuchOption=1 -G two 2>&1)
is "$?" 2 "an unknown -o keyword is a usage error"
cat >"$tmp/unknown.cfg" <<EOF
Host u
	NoSuchKeyword 1
	ForwardAgent yes
Host *
	IgnoreUnknown Ignored*
	IgnoredKeyword 1
EOF
OUT=$("$CONNECT" -F "$tmp/unknown.cfg" -G u 2>&1 >/dev/null)
like "$OUT" "line 2: unknown ssh_config keyword NoSuchKeyword" \
    "an unknown keyword in a file: a warning naming the line"
like "$OUT" "ForwardAgent \\($tmp/unknown.cfg line 3\\) is not supported" \
    "ForwardAgent yes in a file: named as unsupported"
unlike "$OUT" "IgnoredKeyword" "IgnoreUnknown silences what it names"

# ---- the resolution against ssh -G ---------------------------------------------------------

GKEYS="hostname user port identityfile certificatefile identitiesonly proxyjump
proxycommand stricthostkeychecking userknownhostsfile hostkeyalias hashknownhosts
batchmode connecttimeout globalknownhostsfile identityagent serveraliveinterval"

# pick OUTPUT: the lines of GKEYS, key by key, each key's lines in order.
pick() {
	for _k in $GKEYS; do
		printf '%s\n' "$1" | grep "^$_k "
	done
}

# gcmp CONFIG DESC ARG...: codex-connect -G and ssh -G agree on GKEYS.
gcmp() {
	_cfg=$1
	_desc=$2
	shift 2
	_want=$(pick "$(ssh -G -F "$_cfg" "$@" 2>/dev/null)")
	_got=$(pick "$("$CONNECT" -G -F "$_cfg" "$@" 2>/dev/null)")
	if [ -z "$_want" ]; then
		ok 1 "ssh -G $_desc: ssh printed nothing"
		return
	fi
	is "$_got" "$_want" "ssh -G $_desc"
}

# Host patterns, negation, first value wins, HostName %h.
cat >"$tmp/g-hosts.cfg" <<'EOF'
Host a b c
	HostName %h.example.com
	User bob
Host *.corp !bastion.corp
	ProxyJump bastion.corp
Host bastion.corp db.corp
	User admin
	Port 2222
Host db?
	Port 5432
	StrictHostKeyChecking accept-new
Host web
	Port 2200
Host *
	Port 22
	User def
	IdentityFile ~/.ssh/id_ed25519
	IdentityFile ~/.ssh/id_rsa
	ConnectTimeout 1m30s
Host web
	User late
EOF
for h in a c d db.corp bastion.corp x.corp db1 db12 web Web; do
	gcmp "$tmp/g-hosts.cfg" "Host patterns, negation, first wins: $h" "$h"
done

# Match criteria, negation, exec, final; the command line in Match user.
cat >"$tmp/g-match.cfg" <<'EOF'
Host short
	HostName long.example.net
Match host long.example.net
	Port 1001
	IdentityFile /m/host
Match originalhost short,other
	IdentityFile /m/originalhost
Match user bob
	Port 1002
	IdentityFile /m/user-%r
Match !host *.example.net localuser *
	IdentityFile /m/not-example
Match exec "test %h = execme" host execme
	Port 1003
	BatchMode yes
Match exec false
	Port 1004
Match canonical
	IdentityFile /m/canonical
Match final host *.example.net
	StrictHostKeyChecking no
	IdentityFile /m/final-%h
Match all
	ConnectTimeout 7
	IdentityFile /m/all
EOF
for h in short long.example.net other execme plain; do
	gcmp "$tmp/g-match.cfg" "Match host/originalhost/user/localuser/exec/final/all: $h" "$h"
done
gcmp "$tmp/g-match.cfg" "Match user with -l bob" -l bob plain
gcmp "$tmp/g-match.cfg" "Match user with bob@" bob@short
gcmp "$tmp/g-match.cfg" "Match user with -o User=bob" -o User=bob short

# Include with a glob, relative to ~/.ssh (as ssh(1) reads it), and absolute.
pwhome=$(getent passwd "$(id -u)" | cut -d: -f6)
mkdir -p "$tmp/conf.d"
cat >"$tmp/conf.d/10-a.conf" <<'EOF'
Host inc-*
	User from-10
	IdentityFile /inc/10
EOF
cat >"$tmp/conf.d/20-b.conf" <<'EOF'
Host inc-b
	User from-20
	Port 2020
	IdentityFile /inc/20
Match all
	HashKnownHosts yes
EOF
echo "Host never-read" >"$tmp/conf.d/30-c.txt"
# (sshconf-t covers relative Includes with a home of its own; here ~ is the
# real one, which ssh(1) and codex-connect both take from the passwd entry.)
if [ -d "$pwhome/.ssh" ]; then
	rel=$(realpath -m --relative-to="$pwhome/.ssh" "$tmp/conf.d")
	how="relative to ~/.ssh"
else
	rel=$tmp/conf.d
	how="absolute: there is no ~/.ssh"
fi
cat >"$tmp/g-include.cfg" <<EOF
Host inc-a
	Port 1111
Include $rel/*.conf
Host *
	IdentityFile /inc/last
Include $tmp/conf.d/2?-*.conf
EOF
for h in inc-a inc-b inc-c other; do
	gcmp "$tmp/g-include.cfg" "Include with a glob ($how): $h" "$h"
done

# Several IdentityFile and CertificateFile lines from several blocks, tokens,
# known_hosts files, HostKeyAlias, the ProxyJump/ProxyCommand rules.
cat >"$tmp/g-files.cfg" <<'EOF'
Host files
	IdentityFile %d/.ssh/id_%r@%h
	IdentityFile /k/one
	CertificateFile /k/one-cert.pub
	UserKnownHostsFile ~/kh/%h-%p-%r-%n-%u-%i-%l-%L-%k kh2
	HostKeyAlias Files-Alias
	HashKnownHosts no
	ProxyJump u@j1:2200,j2
	ProxyCommand nc %h %p
Host files tokens
	IdentityFile /k/one
	IdentityFile /k/two
	CertificateFile /k/two-cert.pub
	UserKnownHostsFile ~/kh/%C
	IdentitiesOnly yes
Host pc
	ProxyCommand ssh -W %h:%p gw
	ProxyJump ignored
Host pjnone
	ProxyJump none
	ProxyCommand nc %h %p
Host pcnone
	ProxyCommand none
	ProxyJump j3
Host uri
	ProxyJump ssh://bob@j6:2022
	StrictHostKeyChecking off
	IdentityAgent none
	BatchMode yes
Host *
	IdentityFile /k/last
	User u1
	Port 2022
	ServerAliveInterval 15
	GlobalKnownHostsFile /etc/g1 /etc/g2
EOF
for h in files tokens pc pjnone pcnone uri other; do
	gcmp "$tmp/g-files.cfg" "IdentityFile/CertificateFile lists, tokens, proxies: $h" "$h"
done
gcmp "$tmp/g-files.cfg" "-o, -l and -p before the file" -o IdentityFile=/o/first \
    -o ProxyCommand=none -l cmdline -p 2345 files
gcmp "$tmp/g-files.cfg" "-o ProxyJump none" -o ProxyJump=none files
gcmp "$tmp/g-files.cfg" "user@host" root@tokens

# The test's own config, as the connections above used it.
for h in two agentonly agentpub matched cert2 tokens; do
	gcmp "$CFG" "this test's config: $h" "$h"
done

done_testing
