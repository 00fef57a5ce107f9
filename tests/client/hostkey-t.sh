#!/bin/sh
# hostkey-t.sh - host key verification of client/hostkey.c, through
# tests/client/ssh-probe, with OpenSSH's ssh(1) on the same ssh_config and the
# same known_hosts as the reference, against private sshds on 127.0.0.1:
#  - @revoked lines (plain, hashed, wildcard, negated host patterns): refused
#    before authentication with FILE:LINE, under every StrictHostKeyChecking
#    value, and never written (accept-new, a "yes" answer);
#  - RevokedHostKeys: a plain key list (from -o and from ssh_config), a missing
#    file, a line that is not a key, a binary KRL (refused: not supported);
#  - HostKeyAlias (-o and ssh_config): the alias alone in known_hosts, a wrong
#    key under the alias, accept-new writing the alias, the key types known for
#    the alias offered first;
#  - a key recorded for the bare host name accepted on another port (not with
#    HostKeyAlias);
#  - HashKnownHosts yes (-o, and Debian's "Host *" style): the written line is
#    hashed, ssh-keygen -F finds it, ssh(1) accepts the file;
#  - @cert-authority with a host certificate: ssh(1) negotiates and checks
#    it; libssh 0.10 never asks for one, so codex-connect fetches it with
#    ssh-keyscan -c and checks it against the key the kex proved: a valid one
#    passes; expired, not yet valid, another principal, a user certificate, an
#    unknown or @revoked CA, and ProxyJump are refused with the reason; RSA
#    (rsa-sha2-256, -512) and ECDSA (nistp256, 384, 521) CAs pass as with ssh,
#    an ssh-rsa (SHA-1) CA signature is refused as by ssh.
#
# Run by `make check`, or by hand from the build directory:
#   top_srcdir=.. top_builddir=$PWD sh ../tests/client/hostkey-t.sh
# Every probe and every ssh runs in a new session (setsid), without a terminal,
# under timeout(1); the sshds are stopped on exit.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$PWD}"
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/sshd.sh"

PROBE=${SSH_PROBE:-$top_builddir/tests/client/ssh-probe}
TO=${PROBE_TIMEOUT:-30}

sshd_available || skip_all "$SSHD_WHY"
[ -x "$PROBE" ] || skip_all "ssh-probe not built: $PROBE"
command -v setsid >/dev/null 2>&1 || skip_all "setsid(1) not installed"
plan_lazy

unset SSH_AUTH_SOCK SSH_AGENT_PID SSH_ASKPASS SSH_ASKPASS_REQUIRE DISPLAY \
    WAYLAND_DISPLAY

tap_tmpdir tmp

# last_line TEXT: its last line. A remote command's "ok" comes last; the
# account's rc files (root's .bashrc here runs pyenv) may print before it.
last_line() {
	printf '%s\n' "$1" | tail -n 1
}

# probe ARG...: ssh-probe running 'echo ok'; output in $OUT, status in $RC.
probe() {
	OUT=$(setsid -w timeout -k 5 "$TO" "$PROBE" "$@" 2>&1 </dev/null)
	RC=$?
}
# refssh ARG...: ssh(1), the reference, the same way; $SOUT and $SRC.
refssh() {
	SOUT=$(setsid -w timeout -k 5 "$TO" ssh "$@" 2>&1 </dev/null)
	SRC=$?
}
# Successful logins on the main sshd so far: "before authentication" means
# this does not move.
accepted() {
	grep -c "Accepted publickey" "$MAIN_LOG"
}
sum() {
	cksum <"$1" 2>/dev/null
}
pubkey() {
	cut -d' ' -f1,2 "$1"
}

# ---- keys, two sshds, one ssh_config ---------------------------------------------

ssh-keygen -q -t ed25519 -N '' -C ca -f "$tmp/ca" </dev/null
ssh-keygen -q -t ed25519 -N '' -C other -f "$tmp/other" </dev/null
mkdir -p "$tmp/cert"
ssh-keygen -q -t ed25519 -N '' -C certhost -f "$tmp/cert/host_ed25519" </dev/null
ssh-keygen -q -s "$tmp/ca" -I certhost -h -n 127.0.0.1 \
    "$tmp/cert/host_ed25519.pub" 2>/dev/null ||
    bail "ssh-keygen cannot sign a host certificate"

sshd_start "$tmp/cert" "HostCertificate $tmp/cert/host_ed25519-cert.pub" ||
    bail "cannot start the certificate sshd"
CPORT=$SSHD_PORT

# The main sshd has an ECDSA host key besides its ED25519 one.
mkdir -p "$tmp/main"
ssh-keygen -q -t ecdsa -N '' -C ecdsa -f "$tmp/main/host_ecdsa" </dev/null
sshd_start "$tmp/main" "HostKey $tmp/main/host_ecdsa" || bail "cannot start sshd"
MAIN_LOG=$SSHD_LOG
PORT=$SSHD_PORT
KEY=$SSHD_CLIENT_KEY
HK=$(pubkey "$SSHD_DIR/host_ed25519.pub")
FP=$(ssh-keygen -lf "$SSHD_DIR/host_ed25519.pub" | awk '{ print $2 }')
HP="[127.0.0.1]:$PORT"
cat "$KEY.pub" >>"$tmp/cert/authorized_keys"

CFG=$tmp/ssh_config
common="	HostName 127.0.0.1
	User $SSHD_USER
	IdentityFile $KEY
	IdentitiesOnly yes
	IdentityAgent none
	PreferredAuthentications publickey
	UserKnownHostsFile $tmp/default_kh
	GlobalKnownHostsFile /dev/null
	StrictHostKeyChecking yes
	BatchMode yes
	UpdateHostKeys no
	ControlMaster no
	ControlPath none"
cat >"$CFG" <<EOF
Host aliashost
	HostKeyAlias MyAlias
Host revhost
	RevokedHostKeys $tmp/revoked_list
Host testhost aliashost revhost
	Port $PORT
$common
Host certhost
	Port $CPORT
$common
EOF
# Debian's /etc/ssh/ssh_config puts HashKnownHosts under "Host *".
DEB=$tmp/ssh_config.debian
cat >"$DEB" <<EOF
Host testhost
	Port $PORT
$common
Host *
	SendEnv LANG LC_*
	HashKnownHosts yes
	GSSAPIAuthentication yes
EOF

# A matching entry first: both connect.
echo "$HP $HK" >"$tmp/good_kh"
refssh -F "$CFG" -o UserKnownHostsFile="$tmp/good_kh" testhost echo ok
is "$SRC:$(last_line "$SOUT")" "0:ok" "reference: ssh connects with a matching entry"
probe -F "$CFG" -o UserKnownHostsFile="$tmp/good_kh" -e testhost 'echo ok'
is "$RC:$(last_line "$OUT")" "0:ok" "ssh-probe connects with a matching entry"

# ---- @revoked ------------------------------------------------------------------------

# revoked_row FILE LINE LABEL: the revoked key in FILE (at LINE) is refused by
# both, with every StrictHostKeyChecking value but ssh's "no", and FILE stays
# as it was.
revoked_row() {
	f=$1
	line=$2
	label=$3
	before=$(sum "$f")
	logins=$(accepted)
	refssh -F "$CFG" -o UserKnownHostsFile="$f" testhost echo ok
	isnt "$SRC" 0 "$label: reference: ssh refuses"
	like "$SOUT" "REVOKED HOST KEY DETECTED" "$label: reference: ssh says revoked"
	for s in yes ask accept-new no; do
		probe -F "$CFG" -o UserKnownHostsFile="$f" \
		    -o StrictHostKeyChecking=$s -e testhost 'echo ok'
		isnt "$RC" 0 "$label, StrictHostKeyChecking=$s: refused"
		printf '%s\n' "$OUT" | grep -qF -- "the host key for $HP was revoked (ED25519 $FP; @revoked line in $f:$line); refusing to connect"
		ok $? "$label, StrictHostKeyChecking=$s: the message names the host, the key and $f:$line" ||
		    diag "$OUT"
	done
	like "$OUT" "WARNING: REVOKED HOST KEY DETECTED" "$label: with ssh's warning"
	is "$(accepted)" "$logins" "$label: refused before authentication"
	is "$(sum "$f")" "$before" "$label: known_hosts unchanged (accept-new added nothing)"
}

{
	echo "# a revoked key"
	echo "$HP $HK"
	echo "@revoked $HP $HK"
} >"$tmp/rev_kh"
revoked_row "$tmp/rev_kh" 3 "@revoked (plain host)"

# ssh(1) itself lets StrictHostKeyChecking=no through (without password and
# keyboard-interactive); codex-connect refuses, as checked above.
refssh -F "$CFG" -o UserKnownHostsFile="$tmp/rev_kh" \
    -o StrictHostKeyChecking=no testhost echo ok
like "$SOUT" "REVOKED HOST KEY DETECTED" \
    "reference: ssh with StrictHostKeyChecking=no warns (and goes on: codex-connect does not)"

# A hashed host field: ssh-keygen -H leaves marker lines alone, so the hashed
# name of a plain line becomes the @revoked line.
echo "$HP $HK" >"$tmp/hashed_src"
ssh-keygen -q -H -f "$tmp/hashed_src" >/dev/null 2>&1
hashed=$(cut -d' ' -f1 "$tmp/hashed_src")
like "$hashed" '^\|1\|' "ssh-keygen -H hashed the name"
{
	echo "# hashed"
	echo "@revoked $hashed $HK"
} >"$tmp/rev_hashed_kh"
revoked_row "$tmp/rev_hashed_kh" 2 "@revoked (hashed host)"

# Patterns as OpenSSH matches them: wildcards, and a negation that wins.
echo "@revoked other.example,[127.0.0.?]:* $HK" >"$tmp/rev_wild_kh"
revoked_row "$tmp/rev_wild_kh" 1 "@revoked (wildcard pattern)"
{
	echo "$HP $HK"
	echo "@revoked [127.0.0.1]:*,!$HP $HK"
} >"$tmp/rev_neg_kh"
refssh -F "$CFG" -o UserKnownHostsFile="$tmp/rev_neg_kh" testhost echo ok
is "$SRC:$(last_line "$SOUT")" "0:ok" "negated @revoked pattern: reference: ssh connects"
probe -F "$CFG" -o UserKnownHostsFile="$tmp/rev_neg_kh" -e testhost 'echo ok'
is "$RC:$(last_line "$OUT")" "0:ok" "negated @revoked pattern: ssh-probe connects"

# Revoked in the global file, nothing in the user's.
: >"$tmp/empty_kh"
probe -F "$CFG" -o UserKnownHostsFile="$tmp/empty_kh" \
    -o GlobalKnownHostsFile="$tmp/rev_kh" -o StrictHostKeyChecking=accept-new \
    -e testhost 'echo ok'
like "$OUT" "@revoked line in $tmp/rev_kh:3" \
    "@revoked in GlobalKnownHostsFile: refused with accept-new"
is "$(cat "$tmp/empty_kh")" "" "  and nothing was added to UserKnownHostsFile"

# A "yes" answer cannot add it either: the question is never asked.
cat >"$tmp/askpass" <<EOF
#!/bin/sh
echo "\$1" >>"$tmp/askpass.log"
echo yes
EOF
chmod 755 "$tmp/askpass"
rm -f "$tmp/askpass.log"
cp "$tmp/rev_kh" "$tmp/rev_ask_kh"
OUT=$(SSH_ASKPASS=$tmp/askpass SSH_ASKPASS_REQUIRE=force setsid -w timeout \
    -k 5 "$TO" "$PROBE" -F "$CFG" -o UserKnownHostsFile="$tmp/rev_ask_kh" \
    -o StrictHostKeyChecking=ask -e testhost 'echo ok' 2>&1 </dev/null)
RC=$?
isnt "$RC" 0 "@revoked with a prompt that would say yes: refused"
is "$(cat "$tmp/askpass.log" 2>/dev/null)" "" "  without asking"
is "$(sum "$tmp/rev_ask_kh")" "$(sum "$tmp/rev_kh")" "  and known_hosts unchanged"
# The same prompt on an unknown host does answer, and records the key (BatchMode
# from ssh_config is honoured as by ssh(1): -o turns it off here).
: >"$tmp/ask_kh"
OUT=$(SSH_ASKPASS=$tmp/askpass SSH_ASKPASS_REQUIRE=force setsid -w timeout \
    -k 5 "$TO" "$PROBE" -F "$CFG" -o UserKnownHostsFile="$tmp/ask_kh" \
    -o StrictHostKeyChecking=ask -o BatchMode=no -e testhost 'echo ok' 2>&1 </dev/null)
RC=$?
is "$RC" 0 "unknown host, the prompt says yes: connects"
like "$(cat "$tmp/ask_kh")" "^\\[127\\.0\\.0\\.1\\]:$PORT ssh-ed25519 " "  and records the key"

# ---- RevokedHostKeys -------------------------------------------------------------------

{
	echo "# revoked host keys"
	pubkey "$tmp/other.pub"
	echo
	cat "$SSHD_DIR/host_ed25519.pub"
} >"$tmp/revoked_list"
logins=$(accepted)
for s in yes no; do
	refssh -F "$CFG" -o UserKnownHostsFile="$tmp/good_kh" \
	    -o RevokedHostKeys="$tmp/revoked_list" -o StrictHostKeyChecking=$s \
	    testhost echo ok
	isnt "$SRC" 0 "RevokedHostKeys, StrictHostKeyChecking=$s: reference: ssh refuses"
	like "$SOUT" "revoked by file $tmp/revoked_list" "  ssh: revoked by file"
	probe -F "$CFG" -o UserKnownHostsFile="$tmp/good_kh" \
	    -o RevokedHostKeys="$tmp/revoked_list" -o StrictHostKeyChecking=$s \
	    -e testhost 'echo ok'
	isnt "$RC" 0 "RevokedHostKeys, StrictHostKeyChecking=$s: ssh-probe refuses"
	printf '%s\n' "$OUT" | grep -qF -- "the host key for $HP was revoked (ED25519 $FP; listed in RevokedHostKeys $tmp/revoked_list:4)"
	ok $? "  naming the file and line" || diag "$OUT"
done
is "$(accepted)" "$logins" "RevokedHostKeys: refused before authentication"

# From ssh_config, with accept-new on an empty known_hosts.
: >"$tmp/empty_kh"
refssh -F "$CFG" -o UserKnownHostsFile="$tmp/empty_kh" \
    -o StrictHostKeyChecking=accept-new revhost echo ok
isnt "$SRC" 0 "RevokedHostKeys in ssh_config: reference: ssh refuses"
probe -F "$CFG" -o UserKnownHostsFile="$tmp/empty_kh" \
    -o StrictHostKeyChecking=accept-new -e revhost 'echo ok'
isnt "$RC" 0 "RevokedHostKeys in ssh_config: ssh-probe refuses with accept-new"
like "$OUT" "listed in RevokedHostKeys $tmp/revoked_list:4" "  naming file:line"
is "$(cat "$tmp/empty_kh")" "" "  and writes nothing"

# A list without the host's key: both connect.
pubkey "$tmp/other.pub" >"$tmp/revoked_other"
refssh -F "$CFG" -o UserKnownHostsFile="$tmp/good_kh" \
    -o RevokedHostKeys="$tmp/revoked_other" testhost echo ok
is "$SRC:$(last_line "$SOUT")" "0:ok" "RevokedHostKeys without the key: reference: ssh connects"
probe -F "$CFG" -o UserKnownHostsFile="$tmp/good_kh" \
    -o RevokedHostKeys="$tmp/revoked_other" -e testhost 'echo ok'
is "$RC:$(last_line "$OUT")" "0:ok" "RevokedHostKeys without the key: ssh-probe connects"

# Missing file, and a line that is not a key: ssh refuses, so do we.
refssh -F "$CFG" -o UserKnownHostsFile="$tmp/good_kh" \
    -o RevokedHostKeys="$tmp/nonexistent" testhost echo ok
isnt "$SRC" 0 "missing RevokedHostKeys file: reference: ssh refuses"
probe -F "$CFG" -o UserKnownHostsFile="$tmp/good_kh" \
    -o RevokedHostKeys="$tmp/nonexistent" -e testhost 'echo ok'
like "$OUT" "cannot read the RevokedHostKeys file $tmp/nonexistent: No such file" \
    "missing RevokedHostKeys file: ssh-probe refuses, says why"
printf '# ok\nnot a key\n' >"$tmp/revoked_bad"
refssh -F "$CFG" -o UserKnownHostsFile="$tmp/good_kh" \
    -o RevokedHostKeys="$tmp/revoked_bad" testhost echo ok
isnt "$SRC" 0 "RevokedHostKeys line that is not a key: reference: ssh refuses"
probe -F "$CFG" -o UserKnownHostsFile="$tmp/good_kh" \
    -o RevokedHostKeys="$tmp/revoked_bad" -e testhost 'echo ok'
like "$OUT" "$tmp/revoked_bad:2 is not a public key; refusing" \
    "RevokedHostKeys line that is not a key: ssh-probe refuses, names file:line"

# A binary KRL: ssh reads it; codex-connect cannot, and refuses rather than
# ignore it, even when the host's key is not in it.
ssh-keygen -q -k -f "$tmp/krl_host" "$SSHD_DIR/host_ed25519.pub" 2>/dev/null
ssh-keygen -q -k -f "$tmp/krl_other" "$tmp/other.pub" 2>/dev/null
refssh -F "$CFG" -o UserKnownHostsFile="$tmp/good_kh" \
    -o RevokedHostKeys="$tmp/krl_host" testhost echo ok
like "$SOUT" "revoked by file $tmp/krl_host" "KRL revoking the key: reference: ssh refuses"
refssh -F "$CFG" -o UserKnownHostsFile="$tmp/good_kh" \
    -o RevokedHostKeys="$tmp/krl_other" testhost echo ok
is "$SRC:$(last_line "$SOUT")" "0:ok" "KRL revoking another key: reference: ssh connects"
for k in krl_host krl_other; do
	probe -F "$CFG" -o UserKnownHostsFile="$tmp/good_kh" \
	    -o RevokedHostKeys="$tmp/$k" -e testhost 'echo ok'
	isnt "$RC" 0 "$k: ssh-probe refuses"
	like "$OUT" "RevokedHostKeys file $tmp/$k is a binary key revocation list \\(KRL\\), which codex-connect does not support" \
	    "  saying KRLs are not supported"
done

# ---- HostKeyAlias ------------------------------------------------------------------------

echo "myalias $HK" >"$tmp/alias_kh"
refssh -F "$CFG" -o UserKnownHostsFile="$tmp/alias_kh" \
    -o HostKeyAlias=myalias testhost echo ok
is "$SRC:$(last_line "$SOUT")" "0:ok" "HostKeyAlias (-o), only the alias in known_hosts: reference: ssh connects"
probe -F "$CFG" -o UserKnownHostsFile="$tmp/alias_kh" -o HostKeyAlias=myalias \
    -e testhost 'echo ok'
is "$RC:$(last_line "$OUT")" "0:ok" "HostKeyAlias (-o): ssh-probe connects"
refssh -F "$CFG" -o UserKnownHostsFile="$tmp/alias_kh" aliashost echo ok
is "$SRC:$(last_line "$SOUT")" "0:ok" "HostKeyAlias MyAlias (ssh_config): reference: ssh connects"
probe -F "$CFG" -o UserKnownHostsFile="$tmp/alias_kh" -e aliashost 'echo ok'
is "$RC:$(last_line "$OUT")" "0:ok" "HostKeyAlias MyAlias (ssh_config): ssh-probe connects (lowercased, as ssh does)"

# Only the real name recorded: the alias is unknown to both.
refssh -F "$CFG" -o UserKnownHostsFile="$tmp/good_kh" aliashost echo ok
isnt "$SRC" 0 "HostKeyAlias unknown, real name known: reference: ssh refuses"
probe -F "$CFG" -o UserKnownHostsFile="$tmp/good_kh" -e aliashost 'echo ok'
isnt "$RC" 0 "HostKeyAlias unknown, real name known: ssh-probe refuses"
like "$OUT" "no host key is known for myalias " "  naming the alias"

# A wrong key under the alias: both refuse.
{
	echo "$HP $HK"
	echo "myalias $(pubkey "$tmp/other.pub")"
} >"$tmp/alias_wrong_kh"
refssh -F "$CFG" -o UserKnownHostsFile="$tmp/alias_wrong_kh" aliashost echo ok
isnt "$SRC" 0 "wrong key under the alias: reference: ssh refuses"
like "$SOUT" "REMOTE HOST IDENTIFICATION HAS CHANGED" "  ssh: changed"
probe -F "$CFG" -o UserKnownHostsFile="$tmp/alias_wrong_kh" -e aliashost 'echo ok'
isnt "$RC" 0 "wrong key under the alias: ssh-probe refuses"
like "$OUT" "host key of myalias has changed \\(offending ED25519 key in $tmp/alias_wrong_kh:2\\)" \
    "  naming the alias and file:line"

# accept-new records the alias, not the host.
rm -f "$tmp/alias_new_kh" "$tmp/alias_new_ref"
refssh -F "$CFG" -o UserKnownHostsFile="$tmp/alias_new_ref" \
    -o StrictHostKeyChecking=accept-new aliashost echo ok
probe -F "$CFG" -o UserKnownHostsFile="$tmp/alias_new_kh" \
    -o StrictHostKeyChecking=accept-new -e aliashost 'echo ok'
is "$RC:$(cut -d' ' -f1,2,3 "$tmp/alias_new_kh" 2>/dev/null)" \
    "0:$(cut -d' ' -f1,2,3 "$tmp/alias_new_ref" 2>/dev/null)" \
    "HostKeyAlias + accept-new: the same line as ssh writes (myalias ssh-ed25519 ...)"
like "$OUT" "Permanently added 'myalias'" "  and says so"

# Only an ECDSA key under the alias: ssh offers ECDSA first for it, and so
# must libssh, which by itself would prefer ED25519 (known for no name).
echo "myalias $(pubkey "$tmp/main/host_ecdsa.pub")" >"$tmp/alias_ecdsa_kh"
refssh -F "$CFG" -o UserKnownHostsFile="$tmp/alias_ecdsa_kh" aliashost echo ok
is "$SRC:$(last_line "$SOUT")" "0:ok" "HostKeyAlias with an ECDSA key only: reference: ssh connects"
probe -v -F "$CFG" -o UserKnownHostsFile="$tmp/alias_ecdsa_kh" -e aliashost 'echo ok'
is "$RC" 0 "HostKeyAlias with an ECDSA key only: ssh-probe connects"
like "$OUT" "matches the ECDSA host key" "  with the ECDSA key"

# ---- a key recorded for the bare host name ------------------------------------------

echo "127.0.0.1 $HK" >"$tmp/bare_kh"
refssh -F "$CFG" -o UserKnownHostsFile="$tmp/bare_kh" testhost echo ok
is "$SRC:$(last_line "$SOUT")" "0:ok" "key recorded without the port: reference: ssh connects"
probe -F "$CFG" -o UserKnownHostsFile="$tmp/bare_kh" -e testhost 'echo ok'
is "$RC:$(last_line "$OUT")" "0:ok" "key recorded without the port: ssh-probe connects"
echo "127.0.0.1 $(pubkey "$tmp/other.pub")" >"$tmp/bare_other_kh"
refssh -F "$CFG" -o UserKnownHostsFile="$tmp/bare_other_kh" testhost echo ok
isnt "$SRC" 0 "another key recorded without the port: reference: ssh refuses"
probe -F "$CFG" -o UserKnownHostsFile="$tmp/bare_other_kh" -e testhost 'echo ok'
like "$OUT" "no host key is known for \\[127\\.0\\.0\\.1\\]:$PORT" \
    "another key recorded without the port: ssh-probe refuses (unknown host)"
refssh -F "$CFG" -o UserKnownHostsFile="$tmp/bare_kh" -o HostKeyAlias=127.0.0.1x \
    testhost echo ok
isnt "$SRC" 0 "not with HostKeyAlias: reference: ssh refuses"
probe -F "$CFG" -o UserKnownHostsFile="$tmp/bare_kh" -o HostKeyAlias=127.0.0.1x \
    -e testhost 'echo ok'
isnt "$RC" 0 "not with HostKeyAlias: ssh-probe refuses"

# ---- HashKnownHosts ------------------------------------------------------------------------

hashed_line='^\|1\|[A-Za-z0-9+/]{27}=\|[A-Za-z0-9+/]{27}= ssh-ed25519 [A-Za-z0-9+/=]+$'
rm -f "$tmp/hash_ref"
refssh -F "$CFG" -o UserKnownHostsFile="$tmp/hash_ref" \
    -o StrictHostKeyChecking=accept-new -o HashKnownHosts=yes testhost echo ok
like "$(cat "$tmp/hash_ref")" "$hashed_line" "reference: ssh writes a hashed line"

# hashed_row FILE NAME LABEL: FILE holds one hashed line for NAME that
# ssh-keygen -F finds and ssh accepts.
hashed_row() {
	like "$(cat "$1" 2>/dev/null)" "$hashed_line" "$3: the line written is hashed"
	is "$(wc -l <"$1" | tr -d ' ')" 1 "$3: one line"
	unlike "$(cat "$1" 2>/dev/null)" "127\\.0\\.0\\.1|myalias" "$3: the name is not in clear"
	kg=$(ssh-keygen -F "$2" -f "$1" 2>&1)
	like "$kg" "found: line 1" "$3: ssh-keygen -F '$2' finds it"
}

rm -f "$tmp/hash_kh"
probe -F "$CFG" -o UserKnownHostsFile="$tmp/hash_kh" \
    -o StrictHostKeyChecking=accept-new -o HashKnownHosts=yes -e testhost 'echo ok'
is "$RC" 0 "HashKnownHosts=yes (-o) + accept-new: connects"
printf '%s\n' "$OUT" | grep -qxF -- "Warning: Permanently added '$HP' (ED25519 $FP) to the list of known hosts in $tmp/hash_kh (hashed)."
ok $? "  and says so" || diag "$OUT"
hashed_row "$tmp/hash_kh" "$HP" "HashKnownHosts=yes (-o)"
refssh -F "$CFG" -o UserKnownHostsFile="$tmp/hash_kh" testhost echo ok
is "$SRC:$(last_line "$SOUT")" "0:ok" "  ssh accepts the file (StrictHostKeyChecking=yes)"
probe -F "$CFG" -o UserKnownHostsFile="$tmp/hash_kh" -e testhost 'echo ok'
is "$RC:$(last_line "$OUT")" "0:ok" "  and so does ssh-probe"

# Debian's ssh_config: HashKnownHosts yes under "Host *".
rm -f "$tmp/hash_deb_kh"
probe -F "$DEB" -o UserKnownHostsFile="$tmp/hash_deb_kh" \
    -o StrictHostKeyChecking=accept-new -e testhost 'echo ok'
is "$RC" 0 "HashKnownHosts yes in Host * (Debian style) + accept-new: connects"
hashed_row "$tmp/hash_deb_kh" "$HP" "Debian style"
refssh -F "$DEB" -o UserKnownHostsFile="$tmp/hash_deb_kh" testhost echo ok
is "$SRC:$(last_line "$SOUT")" "0:ok" "  ssh accepts the file"

# -o beats ssh_config: no.
rm -f "$tmp/hash_no_kh"
probe -F "$DEB" -o HashKnownHosts=no -o UserKnownHostsFile="$tmp/hash_no_kh" \
    -o StrictHostKeyChecking=accept-new -e testhost 'echo ok'
like "$(cat "$tmp/hash_no_kh" 2>/dev/null)" "^\\[127\\.0\\.0\\.1\\]:$PORT ssh-ed25519 " \
    "-o HashKnownHosts=no beats ssh_config: a plain line"

# With HostKeyAlias: the alias is hashed.
rm -f "$tmp/hash_alias_kh"
probe -F "$CFG" -o UserKnownHostsFile="$tmp/hash_alias_kh" -o HashKnownHosts=yes \
    -o StrictHostKeyChecking=accept-new -e aliashost 'echo ok'
is "$RC" 0 "HashKnownHosts + HostKeyAlias + accept-new: connects"
hashed_row "$tmp/hash_alias_kh" myalias "hashed alias"
refssh -F "$CFG" -o UserKnownHostsFile="$tmp/hash_alias_kh" aliashost echo ok
is "$SRC:$(last_line "$SOUT")" "0:ok" "  ssh accepts the file"

# A file without a final newline gets one before the new line.
printf '# no newline at the end' >"$tmp/nonl_kh"
probe -F "$CFG" -o UserKnownHostsFile="$tmp/nonl_kh" \
    -o StrictHostKeyChecking=accept-new -e testhost 'echo ok'
is "$(sed -n 2p "$tmp/nonl_kh" | cut -d' ' -f1)" "$HP" \
    "appending to a file without a final newline starts a new line"

# Bad values are refused before connecting.
probe -F "$CFG" -o HashKnownHosts=maybe -e testhost 'echo ok'
is "$RC" 2 "-o HashKnownHosts=maybe: usage error"
like "$OUT" "bad value for HashKnownHosts" "  says why"

# ---- @cert-authority ------------------------------------------------------------------------

echo "@cert-authority [127.0.0.1]:$CPORT $(pubkey "$tmp/ca.pub")" >"$tmp/ca_kh"
refssh -v -F "$CFG" -o UserKnownHostsFile="$tmp/ca_kh" certhost echo ok
is "$SRC" 0 "@cert-authority + host certificate: reference: ssh connects"
like "$SOUT" "Server host certificate: ssh-ed25519-cert-v01@openssh.com" \
    "  ssh negotiated the certificate"
like "$SOUT" "matches the ED25519-CERT host certificate" "  and checked it against the CA"

# libssh 0.10 drops certificate algorithms from what it offers
# (ssh_client_select_hostkeys: "This removes the certificate types,
# unsupported for now"): the plain key comes instead, and the certificate is
# fetched with ssh-keyscan -c and checked against the key the kex proved.
before=$(sum "$tmp/ca_kh")
probe -vvv -F "$CFG" -o UserKnownHostsFile="$tmp/ca_kh" -e certhost 'echo ok'
is "$RC" 0 "@cert-authority only: ssh-probe connects (StrictHostKeyChecking=yes)"
like "$OUT" "Negotiated [^,]*,ssh-ed25519," "  libssh negotiated the plain ssh-ed25519 key"
like "$OUT" "Host '\\[127\\.0\\.0\\.1\\]:$CPORT' is known and matches the ED25519-CERT host certificate" \
    "  and the certificate fetched with ssh-keyscan passed"
like "$OUT" "Found CA key in $tmp/ca_kh:1" "  naming the CA line"
is "$(sum "$tmp/ca_kh")" "$before" "  known_hosts unchanged"
probe -F "$CFG" -o UserKnownHostsFile="$tmp/ca_kh" \
    -o HostKeyAlgorithms=ssh-ed25519-cert-v01@openssh.com -e certhost 'echo ok'
isnt "$RC" 0 "-o HostKeyAlgorithms with certificate types only: refused"
like "$OUT" "names certificate types only, which libssh 0\\.10 cannot use" "  says why"
refssh -F "$CFG" -o UserKnownHostsFile="$tmp/ca_kh" \
    -o HostKeyAlgorithms=ssh-ed25519-cert-v01@openssh.com certhost echo ok
is "$SRC:$(last_line "$SOUT")" "0:ok" "  (reference: ssh uses it)"

# ask and accept-new: the certificate is enough, nothing is asked or written.
probe -F "$CFG" -o UserKnownHostsFile="$tmp/ca_kh" -o StrictHostKeyChecking=ask \
    -o BatchMode=no -e certhost 'echo ok'
is "$RC:$(last_line "$OUT")" "0:ok" "@cert-authority, StrictHostKeyChecking=ask without a terminal: connects"
cp "$tmp/ca_kh" "$tmp/ca_new_kh"
probe -F "$CFG" -o UserKnownHostsFile="$tmp/ca_new_kh" \
    -o StrictHostKeyChecking=accept-new -e certhost 'echo ok'
is "$RC:$(last_line "$OUT")" "0:ok" "@cert-authority + accept-new: connects"
is "$(sum "$tmp/ca_new_kh")" "$(sum "$tmp/ca_kh")" "  and records nothing (as ssh)"

# HostKeyAlias: the CA line names the alias, the certificate the alias too.
echo "@cert-authority myalias $(pubkey "$tmp/ca.pub")" >"$tmp/ca_alias_kh"
refssh -F "$CFG" -o UserKnownHostsFile="$tmp/ca_alias_kh" -o HostKeyAlias=myalias \
    certhost echo ok
isnt "$SRC" 0 "@cert-authority for the alias, certificate for 127.0.0.1: reference: ssh refuses"
probe -F "$CFG" -o UserKnownHostsFile="$tmp/ca_alias_kh" -o HostKeyAlias=myalias \
    -e certhost 'echo ok'
isnt "$RC" 0 "  ssh-probe refuses"
like "$OUT" "name myalias is not a listed principal" "  the alias is not a principal"

# Certificates that must not pass: one sshd each, with its own host key.
# cert_sshd NAME CA SSH-KEYGEN-ARGS...: starts it; its port in $CP.
cert_sshd() {
	d=$tmp/c_$1
	ca=$2
	shift 2
	mkdir -p "$d"
	ssh-keygen -q -t ed25519 -N '' -C "c_$1" -f "$d/host_ed25519" </dev/null
	ssh-keygen -q -s "$ca" -I "c_$1" "$@" "$d/host_ed25519.pub" 2>/dev/null ||
	    bail "ssh-keygen cannot sign $d"
	sshd_start "$d" "HostCertificate $d/host_ed25519-cert.pub" ||
	    bail "cannot start the sshd in $d"
	cat "$KEY.pub" >>"$d/authorized_keys"
	CP=$SSHD_PORT
}
ssh-keygen -q -t ed25519 -N '' -C ca2 -f "$tmp/ca2" </dev/null
echo "@cert-authority [127.0.0.1]:* $(pubkey "$tmp/ca.pub")" >"$tmp/ca_any_kh"

# cert_row LABEL PORT REASON: ssh refuses with REASON, so does ssh-probe.
cert_row() {
	logins=$(grep -c "Accepted publickey" "$tmp/c_$4/sshd.log")
	refssh -F "$CFG" -o UserKnownHostsFile="$tmp/ca_any_kh" -o Port="$2" \
	    certhost echo ok
	isnt "$SRC" 0 "$1: reference: ssh refuses"
	like "$SOUT" "$5" "  ssh: $5"
	probe -F "$CFG" -o UserKnownHostsFile="$tmp/ca_any_kh" -o Port="$2" \
	    -e certhost 'echo ok'
	isnt "$RC" 0 "$1: ssh-probe refuses"
	printf '%s\n' "$OUT" | grep -qF -- "and its host certificate was not accepted: $3"
	ok $? "  saying: $3" || diag "$OUT"
	is "$(grep -c "Accepted publickey" "$tmp/c_$4/sshd.log")" "$logins" \
	    "  before authentication"
}

cert_sshd expired "$tmp/ca" -h -n 127.0.0.1 -V 20000101:20010101
EPORT=$CP
cert_row "expired host certificate" "$CP" "Certificate invalid: expired" \
    expired "Certificate invalid: expired"
cert_sshd future "$tmp/ca" -h -n 127.0.0.1 -V 20990101:21000101
cert_row "host certificate not yet valid" "$CP" \
    "Certificate invalid: not yet valid" future "not yet valid"
cert_sshd principal "$tmp/ca" -h -n other
cert_row "host certificate for another name" "$CP" \
    "Certificate invalid: name 127.0.0.1 is not a listed principal" principal \
    "name is not a listed principal"
cert_sshd user "$tmp/ca" -n 127.0.0.1
cert_row "user certificate as host certificate" "$CP" \
    "Certificate invalid: not a host certificate" user \
    "not a host certificate"
cert_sshd unknownca "$tmp/ca2" -h -n 127.0.0.1
cert_row "host certificate from a CA not in known_hosts" "$CP" \
    "its certificate is signed by an unknown CA (ssh-ed25519 SHA256:" unknownca \
    "Host key verification failed"
UCP=$CP

# A refused certificate leaves the plain key, as in ssh: accept-new records it.
cp "$tmp/ca_any_kh" "$tmp/ca_exp_new_kh"
probe -F "$CFG" -o UserKnownHostsFile="$tmp/ca_exp_new_kh" -o Port="$EPORT" \
    -o StrictHostKeyChecking=accept-new -e certhost 'echo ok'
is "$RC" 0 "expired certificate + accept-new: connects with the plain key (as ssh)"
like "$OUT" "Warning: .*host certificate was not accepted: Certificate invalid: expired" \
    "  with a warning"
like "$(sed -n 2p "$tmp/ca_exp_new_kh")" "^\\[127\\.0\\.0\\.1\\]:$EPORT ssh-ed25519 " \
    "  recording the plain key after the CA line"

# Both CAs listed: the second one signs.
{
	cat "$tmp/ca_any_kh"
	echo "@cert-authority [127.0.0.1]:* $(pubkey "$tmp/ca2.pub")"
} >"$tmp/ca_two_kh"
refssh -F "$CFG" -o UserKnownHostsFile="$tmp/ca_two_kh" -o Port="$UCP" certhost echo ok
is "$SRC:$(last_line "$SOUT")" "0:ok" "two @cert-authority lines: reference: ssh connects"
probe -v -F "$CFG" -o UserKnownHostsFile="$tmp/ca_two_kh" -o Port="$UCP" \
    -e certhost 'echo ok'
is "$RC" 0 "two @cert-authority lines: ssh-probe connects"
like "$OUT" "Found CA key in $tmp/ca_two_kh:2" "  with the second CA"

# The CA @revoked: refused whatever StrictHostKeyChecking says.
{
	cat "$tmp/ca_kh"
	echo "@revoked [127.0.0.1]:$CPORT $(pubkey "$tmp/ca.pub")"
} >"$tmp/ca_carev_kh"
refssh -F "$CFG" -o UserKnownHostsFile="$tmp/ca_carev_kh" certhost echo ok
isnt "$SRC" 0 "@revoked CA: reference: ssh refuses"
probe -F "$CFG" -o UserKnownHostsFile="$tmp/ca_carev_kh" \
    -o StrictHostKeyChecking=accept-new -e certhost 'echo ok'
isnt "$RC" 0 "@revoked CA: ssh-probe refuses, even with accept-new"
like "$OUT" "signed by a revoked CA \\(ssh-ed25519 SHA256:[^;]*; @revoked line in $tmp/ca_carev_kh:2\\)" \
    "  naming the @revoked line"

# The CA in RevokedHostKeys: refused too, as by ssh.
pubkey "$tmp/ca.pub" >"$tmp/revoked_ca"
refssh -F "$CFG" -o UserKnownHostsFile="$tmp/ca_kh" \
    -o RevokedHostKeys="$tmp/revoked_ca" certhost echo ok
isnt "$SRC" 0 "CA in RevokedHostKeys: reference: ssh refuses"
probe -F "$CFG" -o UserKnownHostsFile="$tmp/ca_kh" \
    -o RevokedHostKeys="$tmp/revoked_ca" -o StrictHostKeyChecking=accept-new \
    -e certhost 'echo ok'
isnt "$RC" 0 "CA in RevokedHostKeys: ssh-probe refuses, even with accept-new"
like "$OUT" "listed in RevokedHostKeys $tmp/revoked_ca:1" "  naming the file and line"
like "$OUT" "is the CA key .* that signed the host certificate" "  saying it is the CA"

# RSA and ECDSA CAs: checked with libcrypto, accepted exactly as ssh accepts
# them. ssh-keygen signs with rsa-sha2-512 by default; -t picks the others.
ssh-keygen -q -t rsa -b 2048 -N '' -C rsaca -f "$tmp/rsaca" </dev/null
for b in 256 384 521; do
	ssh-keygen -q -t ecdsa -b $b -N '' -C ec${b}ca -f "$tmp/ec${b}ca" </dev/null
done
# ca_ok LABEL NAME CA SSH-KEYGEN-ARGS...: a host certified by CA; ssh and
# ssh-probe both connect, ssh-probe saying it checked the certificate.
ca_ok() {
	label=$1
	n=$2
	c=$3
	shift 3
	cert_sshd "$n" "$c" -h -n 127.0.0.1 "$@"
	echo "@cert-authority [127.0.0.1]:$CP $(pubkey "$c.pub")" >"$tmp/ca_${n}_kh"
	refssh -F "$CFG" -o UserKnownHostsFile="$tmp/ca_${n}_kh" -o Port="$CP" \
	    certhost echo ok
	is "$SRC:$(last_line "$SOUT")" "0:ok" "$label: reference: ssh connects"
	probe -v -F "$CFG" -o UserKnownHostsFile="$tmp/ca_${n}_kh" -o Port="$CP" \
	    -e certhost 'echo ok'
	is "$RC" 0 "$label: ssh-probe connects"
	like "$OUT" "matches the ED25519-CERT host certificate" \
	    "  through the certificate"
}
ca_ok "RSA CA, rsa-sha2-512 signature" rsaca "$tmp/rsaca"
ca_ok "RSA CA, rsa-sha2-256 signature" rsaca256 "$tmp/rsaca" -t rsa-sha2-256
ca_ok "ECDSA nistp256 CA" ec256ca "$tmp/ec256ca"
ca_ok "ECDSA nistp384 CA" ec384ca "$tmp/ec384ca"
ca_ok "ECDSA nistp521 CA" ec521ca "$tmp/ec521ca"

# Its RSA CA signed with ssh-rsa (SHA-1): ssh refuses it (not in its default
# CASignatureAlgorithms), so does ssh-probe, saying why.
cert_sshd rsasha1 "$tmp/rsaca" -h -n 127.0.0.1 -t ssh-rsa
echo "@cert-authority [127.0.0.1]:$CP $(pubkey "$tmp/rsaca.pub")" >"$tmp/ca_sha1_kh"
refssh -F "$CFG" -o UserKnownHostsFile="$tmp/ca_sha1_kh" -o Port="$CP" certhost echo ok
isnt "$SRC" 0 "RSA CA, ssh-rsa (SHA-1) signature: reference: ssh refuses"
probe -F "$CFG" -o UserKnownHostsFile="$tmp/ca_sha1_kh" -o Port="$CP" \
    -e certhost 'echo ok'
isnt "$RC" 0 "RSA CA, ssh-rsa (SHA-1) signature: ssh-probe refuses"
like "$OUT" "signed with ssh-rsa \\(RSA with SHA-1\\), which ssh\\(1\\) refuses for CAs by default" \
    "  saying why"
refssh -F "$CFG" -o UserKnownHostsFile="$tmp/ca_sha1_kh" -o Port="$CP" \
    -o CASignatureAlgorithms=+ssh-rsa certhost echo ok
is "$SRC:$(last_line "$SOUT")" "0:ok" "  (reference: ssh takes it with CASignatureAlgorithms=+ssh-rsa)"

# Through ProxyJump ssh-keyscan cannot fetch the certificate: refused, saying
# why. The jump host reads the same UserKnownHostsFile (from ssh_config).
{
	echo "$HP $HK"
	cat "$tmp/ca_kh"
} >"$tmp/default_kh"
refssh -F "$CFG" -J testhost certhost echo ok
is "$SRC:$(last_line "$SOUT")" "0:ok" "@cert-authority through ProxyJump: reference: ssh connects"
probe -F "$CFG" -o ProxyJump=testhost -e certhost 'echo ok'
isnt "$RC" 0 "@cert-authority through ProxyJump: ssh-probe refuses"
like "$OUT" "ssh-keyscan, which codex-connect uses to fetch it, cannot go through ProxyJump or ProxyCommand" \
    "  saying why"

# A revoked CA stays a plain verdict for the plain key: the key itself revoked.
{
	echo "@cert-authority [127.0.0.1]:$CPORT $(pubkey "$tmp/ca.pub")"
	echo "@revoked [127.0.0.1]:$CPORT $(pubkey "$tmp/cert/host_ed25519.pub")"
} >"$tmp/ca_rev_kh"
refssh -F "$CFG" -o UserKnownHostsFile="$tmp/ca_rev_kh" certhost echo ok
isnt "$SRC" 0 "@cert-authority with the host key @revoked: reference: ssh refuses"
probe -F "$CFG" -o UserKnownHostsFile="$tmp/ca_rev_kh" \
    -o StrictHostKeyChecking=accept-new -e certhost 'echo ok'
like "$OUT" "@revoked line in $tmp/ca_rev_kh:2" \
    "  ssh-probe refuses too, even with accept-new"

done_testing
