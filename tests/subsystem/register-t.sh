#!/bin/sh
# register-t.sh - `codex-subsystem register` / `unregister` against a private sshd
# whose config Includes $T/dropin/*.conf: the subsystem appears after register and
# the reload, a second register is fine, a subsystem defined elsewhere is refused
# by file:line, a drop-in state sshd rejects is rolled back, a config without the
# Include is told what to add, and unregister makes the subsystem go away again.
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/sshd.sh"

B=$top_builddir
SUB=$B/subsystem/codex-subsystem
# make check-valgrind: $SUB is a script running the build's binary under
# valgrind, and the program names the binary it runs.
SELF=$SUB
[ -z "${CXS_VALGRIND-}" ] || SELF=$CXS_VALGRIND_BUILDDIR/subsystem/codex-subsystem
FAKE=$B/tests/fake-app-server
sshd_available || skip_all "$SSHD_WHY"

tap_tmpdir T
chmod 755 "$T"
mkdir -p "$T/dropin"
cat >"$T/conf" <<CONF
Backend fake $FAKE
DefaultBackend fake
LoginShell no
RuntimeDir $T/run-%i
JournalDir $T/journal-%i
LogFile $T/log-%i
IdleTimeout 20s
CONF
chmod 644 "$T/conf"
at_exit "$SUB stop -f $T/conf >/dev/null 2>&1"

sshd_start "$T/sshd" "Include $T/dropin/*.conf" || bail "sshd did not start"
CFG=$SSHD_DIR/sshd_config
PIDF=$SSHD_DIR/sshd.pid
OURS=$T/dropin/codex-ssh-codex.conf
INIT='{"id":1,"method":"initialize","params":{"clientInfo":{"name":"t","version":"1"}}}'
REG="$SUB register --sshd-config $CFG --dropin-dir $T/dropin --pid-file $PIDF"
UNREG="$SUB unregister --sshd-config $CFG --dropin-dir $T/dropin --pid-file $PIDF"

# One initialize through `ssh -s testhost codex` (bounded).
ask() {
	(echo "$INIT"; sleep 1) | SSHD_SSH_TIMEOUT=20 sshd_ssh -s testhost codex 2>&1
}
# wait_for yes|no: until the subsystem answers (or stops answering), at most 15 s.
wait_for() {
	_i=0
	while [ $_i -lt 30 ]; do
		_o=$(ask)
		if printf '%s\n' "$_o" | grep -q '"userAgent":"fake-app-server'; then
			[ "$1" = yes ] && return 0
		else
			[ "$1" = no ] && return 0
		fi
		sleep 0.5
		_i=$((_i + 1))
	done
	return 1
}

plan_lazy

out=$(ask)
unlike "$out" '"userAgent"' "before register, ssh -s testhost codex gets no app server"

# A main config without the Include: told exactly what to add.
grep -v '^Include ' "$CFG" >"$T/noinc_config"
run_fail "register refuses a config that does not Include the drop-in dir" \
	$SUB register --sshd-config "$T/noinc_config" --dropin-dir "$T/dropin" --no-reload
like "$TAP_OUT" "add this line.*" "it says a line is missing"
like "$TAP_OUT" "Include $T/dropin/\\*\\.conf" "and which line"
[ ! -e "$OURS" ]; ok $? "and writes nothing"

# sshd -t fails: nothing of ours is left behind.
echo "NoSuchKeyword yes" >"$T/dropin/00-broken.conf"
run_fail "register fails when sshd -t rejects the drop-in state" \
	$REG --args "-f $T/conf"
like "$TAP_OUT" 'NoSuchKeyword|Bad configuration option' "sshd's message is shown"
like "$TAP_OUT" 'rolled back' "and the rollback announced"
[ ! -e "$OURS" ]; ok $? "our drop-in is not left behind"
rm -f "$T/dropin/00-broken.conf"

run_ok "register succeeds" $REG --args "-f $T/conf"
like "$TAP_OUT" "wrote $OURS: Subsystem codex $SELF -f $T/conf" "it says what it wrote"
like "$TAP_OUT" 'reloaded sshd \(SIGHUP to pid' "and that it reloaded sshd"
is "$(stat -c %a "$OURS")" 644 "the drop-in is mode 0644"
is "$(grep -v '^#' "$OURS")" "Subsystem codex $SELF -f $T/conf" "the drop-in holds one Subsystem line"
is "$(ls -A "$T/dropin")" "codex-ssh-codex.conf" "no temporary file left in the drop-in dir"
wait_for yes; ok $? "after the reload, ssh -s testhost codex answers initialize"

run_ok "register again is fine" $REG --args "-f $T/conf"
like "$TAP_OUT" "rewrote $OURS" "it rewrites our own file"
wait_for yes; ok $? "the subsystem still answers"

cp "$OURS" "$T/ours.before"
echo "Subsystem codex /bin/cat" >"$T/dropin/50-other.conf"
run_fail "a Subsystem codex defined in another file is refused" $REG --args "-f $T/conf"
like "$TAP_OUT" "$T/dropin/50-other.conf:1: Subsystem codex /bin/cat" "naming file and line"
rm -f "$T/dropin/50-other.conf"
printf 'Subsystem codex /bin/cat\n' >>"$T/noinc_config"
printf 'Include %s/*.conf\n' "$T/dropin" >>"$T/noinc_config"
run_fail "also when it is in the main config" \
	$SUB register --sshd-config "$T/noinc_config" --dropin-dir "$T/dropin" --no-reload
like "$TAP_OUT" "$T/noinc_config:[0-9]+: Subsystem codex /bin/cat" "naming file and line"

# sshd -t fails while our file exists: the old one is put back.
echo "NoSuchKeyword yes" >"$T/dropin/00-broken.conf"
run_fail "register with a broken drop-in dir fails" $REG --args "-f $T/other-conf"
cmp -s "$OURS" "$T/ours.before"; ok $? "our previous drop-in is restored unchanged"
run_fail "unregister with a broken drop-in dir fails too" $UNREG
cmp -s "$OURS" "$T/ours.before"; ok $? "and puts our drop-in back"
rm -f "$T/dropin/00-broken.conf"
wait_for yes; ok $? "the subsystem still answers"

if [ "$(id -u)" = 0 ]; then
	out=$(setpriv --reuid 65534 --regid 65534 --clear-groups $SUB register 2>&1)
	like "$out" 'must run as root' "without root and without test paths, register refuses"
else
	out=$($SUB register 2>&1)
	like "$out" 'must run as root' "without root and without test paths, register refuses"
fi
run_fail "a bad --name is refused" $REG --name 'a b'

run_ok "unregister succeeds" $UNREG
like "$TAP_OUT" "removed $OURS" "it says what it removed"
[ ! -e "$OURS" ]; ok $? "our drop-in is gone"
wait_for no; ok $? "after the reload, the subsystem is gone"
run_ok "unregister again succeeds" $UNREG
like "$TAP_OUT" 'nothing to remove' "saying there was nothing to remove"

sshd_stop
done_testing
