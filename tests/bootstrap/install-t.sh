#!/bin/sh
# install-t.sh - `codex-connect HOST install [--sudo]` and `uninstall [--sudo]`
# against a private sshd, as a throw-away user: install uploads codex-subsystem
# and runs nothing; the next connect needs no upload; --sudo copies it to a
# libexec directory and registers it with the test's sshd (through sudo, on a
# remote terminal), after which --no-bootstrap connects work; uninstall --sudo
# unregisters and removes it, and uninstall removes ~/.codex/ssh/bin.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$PWD}"
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/sshd.sh"
. "$top_srcdir/tests/lib/users.sh"

B=$top_builddir
CONNECT=$B/client/codex-connect
V=$("$B/subsystem/codex-subsystem" --version | sed 's/^codex-subsystem //')
sshd_available || skip_all "$SSHD_WHY"
users_available || skip_all "$USERS_WHY"
command -v sudo >/dev/null 2>&1 || skip_all "sudo not installed"
builds=${CODEX_SSH_BUILDS:-$B/static}
[ -x "$builds/linux-$(uname -m)/codex-subsystem" ] || skip_all "no static build in $builds"
export CODEX_SSH_BUILDS="$builds"
USERS_FAKE=$B/tests/fake-app-server
unset SSH_AUTH_SOCK SSH_AGENT_PID SSH_ASKPASS DISPLAY CODEX_CLI

tap_tmpdir T
chmod 755 "$T"
mkdir -p "$T/dropin" "$T/libexec"
sshd_start "$T/sshd" "Include $T/dropin/*.conf" || bail "sshd"
chmod 755 "$T/sshd"
chmod 644 "$SSHD_DIR/authorized_keys"
users_make cxs-i-user /bin/bash "$T/home" || bail "useradd"
echo "cxs-i-user ALL=(root) NOPASSWD: ALL" >"/etc/sudoers.d/cxs-i-user"
chmod 440 /etc/sudoers.d/cxs-i-user
at_exit "rm -f /etc/sudoers.d/cxs-i-user"
REG="--sshd-config $SSHD_DIR/sshd_config --dropin-dir $T/dropin --pid-file $SSHD_DIR/sshd.pid"
INIT='{"id":1,"method":"initialize","params":{"clientInfo":{"name":"install-t","version":"1"}}}'

cc() {
	OUT=$(timeout -k 5 60 "$CONNECT" -F "$SSH_CONFIG" -l cxs-i-user "$@" </dev/null 2>"$T/err")
	RC=$?
	ERR=$(cat "$T/err")
}
stdio() {
	OUT=$(printf '%s\n' "$INIT" | timeout -k 5 60 "$CONNECT" -F "$SSH_CONFIG" -l cxs-i-user \
	    "$@" testhost --stdio 2>"$T/err")
	RC=$?
	ERR=$(cat "$T/err")
}
answered='^\{"id":1,"result":\{"userAgent":"fake-app-server'

plan_lazy
cc testhost install
is "$RC" 0 "install: exit 0"
like "$OUT" "^installed $T/home/.codex/ssh/bin/$V/codex-subsystem on testhost" "  says where"
like "$ERR" "uploaded codex-subsystem $V" "  after uploading it"
is "$(pgrep -u cxs-i-user -f codex-subsystem | grep -c .)" 0 "  and runs nothing"
cc testhost install
like "$OUT" "^installed" "install again: nothing to upload"
unlike "$ERR" "upload" "  (no upload)"
stdio
like "$OUT" "$answered" "a connect after install works"
unlike "$ERR" "upload" "  without uploading"

cc testhost install --sudo --libexec "$T/libexec" -- $REG
is "$RC" 0 "install --sudo: exit 0"
like "$OUT" "registered $T/libexec/codex-subsystem" "  registered the copy in the libexec directory"
like "$(cat "$T/dropin/codex-ssh-codex.conf" 2>/dev/null)" "Subsystem codex $T/libexec/codex-subsystem" \
    "  the sshd drop-in names it"
i=0; while [ $i -lt 50 ]; do stdio --no-bootstrap; [ "$RC" = 0 ] && break; sleep 0.1; i=$((i + 1)); done
like "$OUT" "$answered" "  and connects with --no-bootstrap work (the subsystem is registered)"

cc testhost uninstall --sudo --libexec "$T/libexec" -- $REG
is "$RC" 0 "uninstall --sudo: exit 0"
ok "$([ ! -e "$T/dropin/codex-ssh-codex.conf" ] && [ ! -e "$T/libexec/codex-subsystem" ]; echo $?)" \
    "  unregistered, the copy removed"
ok "$([ ! -e "$T/home/.codex/ssh/bin" ]; echo $?)" "  and ~/.codex/ssh/bin removed"
i=0; while [ $i -lt 50 ]; do stdio --no-bootstrap; [ "$RC" != 0 ] && break; sleep 0.1; i=$((i + 1)); done
like "$ERR" "not registered" "  --no-bootstrap connects are refused again"
stdio
like "$OUT" "$answered" "  while a plain connect bootstraps again"
done_testing
