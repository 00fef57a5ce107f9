#!/bin/sh
# doctor-t.sh - `codex-connect HOST doctor` fails exactly the check that is broken:
# a healthy host (subsystem registered, codex on the login PATH) passes, exit 0;
# codex only on an interactive PATH fails `codex`; a changed host key fails
# `hostkey`; a ForceCommand fails `exec`; --json prints one JSON document.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$PWD}"
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/sshd.sh"
. "$top_srcdir/tests/lib/users.sh"

B=$top_builddir
CONNECT=$B/client/codex-connect
SUB=$B/subsystem/codex-subsystem
sshd_available || skip_all "$SSHD_WHY"
users_available || skip_all "$USERS_WHY"
USERS_FAKE=$B/tests/fake-app-server
unset SSH_AUTH_SOCK SSH_AGENT_PID SSH_ASKPASS DISPLAY CODEX_CLI

tap_tmpdir T
chmod 755 "$T"

# doctor USER [ARGS]: the failing checks' names (sorted, one line) in $FAILS,
# "name=status ..." in $STATUS, the exit status in $RC, the whole output in $OUT.
doctor() {
	_u=$1
	shift
	OUT=$(timeout -k 5 60 "$CONNECT" -F "$SSH_CONFIG" -l "$_u" "$@" testhost doctor \
	    --json 2>"$T/err")
	RC=$?
	FAILS=$(printf '%s' "$OUT" | python3 -c '
import json, sys
d = json.load(sys.stdin)      # all of stdout: one JSON document
print(" ".join(sorted(c["name"] for c in d["checks"] if c["status"] == "fail")) or "none")' 2>&1)
	STATUS=$(printf '%s' "$OUT" | python3 -c '
import json, sys
print(" ".join("%s=%s" % (c["name"], c["status"]) for c in json.load(sys.stdin)["checks"]))' 2>&1)
}

plan_lazy

sshd_start "$T/sshd" "Subsystem codex $SUB" || bail "sshd"
chmod 755 "$T/sshd"
chmod 644 "$SSHD_DIR/authorized_keys"
users_make cxs-d-ok /bin/bash "$T/home-ok" || bail "useradd"
users_make cxs-d-inter /bin/bash "$T/home-inter" || bail "useradd"
# codex only where an interactive bash finds it (nvm-style, behind the guard)
printf 'echo "Welcome"\n' >"$T/home-inter/.profile"
cp "$T/home-inter/.profile" "$T/home-inter/.bash_profile"
printf '[ -z "$PS1" ] && return\nexport PATH="$HOME/bin:$PATH"\n' >"$T/home-inter/.bashrc"

doctor cxs-d-ok
is "$RC:$FAILS" "0:none" "a healthy host: no check fails, exit 0 (and --json is one document)"
like "$STATUS" 'subsystem=ok' "  the subsystem is registered"
like "$STATUS" 'codex=ok' "  codex is on the login PATH"
like "$STATUS" 'rcfiles=warn' "  rc files that print text are a warning"

doctor cxs-d-inter
is "$RC:$FAILS" "1:codex" "codex only on an interactive PATH: exactly \`codex\` fails, exit 1"
like "$OUT" "only on an interactive PATH \\($T/home-inter/bin/codex\\)" "  naming where it is"

text=$(timeout -k 5 60 "$CONNECT" -F "$SSH_CONFIG" -l cxs-d-inter testhost doctor 2>&1)
like "$text" "^fail  codex .*
 +fix: " "  the text form: a line per check, the fail with its fix"

ssh-keygen -q -t ed25519 -N '' -f "$T/otherkey" </dev/null
printf '[127.0.0.1]:%s %s\n' "$SSHD_PORT" "$(cut -d' ' -f1,2 "$T/otherkey.pub")" >"$T/kh-bad"
doctor cxs-d-ok -o UserKnownHostsFile="$T/kh-bad"
is "$RC:$FAILS" "1:hostkey" "a changed host key: exactly \`hostkey\` fails"
sshd_stop

sshd_start "$T/sshd2" "ForceCommand echo menu only" || bail "sshd"
chmod 755 "$T/sshd2"
chmod 644 "$SSHD_DIR/authorized_keys"
doctor cxs-d-ok
is "$RC:$FAILS" "1:exec" "a ForceCommand: exactly \`exec\` fails"
like "$OUT" "menu only" "  quoting what it printed"
sshd_stop
done_testing
