# tap.sh - Test Anything Protocol helpers for the shell tests (POSIX sh and bash).
#
#   . "$top_srcdir/tests/lib/tap.sh"
#   plan 3                       # or plan_lazy ... done_testing
#   true;  ok $? "true works"    # ok STATUS DESC: passes when STATUS is 0
#   is "$(echo hi)" hi "echo"    # is GOT WANT DESC
#   like "$out" '^ok' "prefix"   # like GOT ERE DESC (grep -E)
#   run_ok "ssh works" ssh ...   # runs the command; shows its output on failure
#   skip "no python3" 2          # skip REASON [COUNT]
#   skip_all "sshd missing"      # prints 1..0 # SKIP and exits 0 (before any test)
#   diag "text"; bail "reason"
#   at_exit "kill $pid"          # cleanup, run last-registered-first on exit
#   tap_tmpdir tmp               # tmp=/tmp/cxs.XXXXXX, removed on exit
#
# The exit status is 0 only when every test passed and the plan was met; a failed
# test prints what it got as "# " lines. Output goes to stdout, as automake's
# tap-driver.sh expects. Set TAP_KEEP=1 to keep temporary directories.

_tap_count=0
_tap_failed=0
_tap_planned=
_tap_lazy=0
_tap_done=0
_tap_skipped_all=0
_tap_bailed=0

# ---- exit hooks: tests/lib/atexit.sh ------------------------------------------
. "$top_srcdir/tests/lib/atexit.sh"

# ---- plan ------------------------------------------------------------------------

plan() {
	_tap_planned=$1
	echo "1..$1"
}

plan_lazy() {
	_tap_lazy=1
}

done_testing() {
	_tap_done=1
	if [ "$_tap_lazy" = 1 ]; then
		echo "1..$_tap_count"
		_tap_planned=$_tap_count
	fi
}

skip_all() {
	_tap_skipped_all=1
	echo "1..0 # SKIP $*"
	exit 0
}

# ---- results ---------------------------------------------------------------------

# diag TEXT...: each line of TEXT printed as a "# " comment.
diag() {
	printf '%s\n' "$*" | sed 's/^/# /'
}

# _tap_result 0|1 DESC: prints one result line; returns 0 for a pass.
_tap_result() {
	_tap_count=$((_tap_count + 1))
	if [ "$1" = 0 ]; then
		echo "ok $_tap_count - $2"
		return 0
	fi
	_tap_failed=$((_tap_failed + 1))
	echo "not ok $_tap_count - $2"
	return 1
}

# ok STATUS DESC: one test that passes when STATUS is 0. Returns 0 on a pass.
ok() {
	_tap_st=$1
	shift
	_tap_result "$_tap_st" "$*" && return 0
	diag "  Failed test $_tap_count: status $_tap_st"
	return 1
}

# is GOT WANT DESC: string equality.
is() {
	if [ "$1" = "$2" ]; then
		_tap_result 0 "$3"
		return 0
	fi
	_tap_result 1 "$3"
	diag "       got: '$1'"
	diag "  expected: '$2'"
	return 1
}

# isnt GOT UNWANTED DESC
isnt() {
	if [ "$1" != "$2" ]; then
		_tap_result 0 "$3"
		return 0
	fi
	_tap_result 1 "$3"
	diag "  got '$1', which it should not be"
	return 1
}

# like GOT ERE DESC: GOT (any line of it) matches the extended regex.
like() {
	if printf '%s\n' "$1" | grep -Eq -- "$2"; then
		_tap_result 0 "$3"
		return 0
	fi
	_tap_result 1 "$3"
	diag "                  '$1'"
	diag "  doesn't match  '$2'"
	return 1
}

# unlike GOT ERE DESC: no line of GOT matches.
unlike() {
	if ! printf '%s\n' "$1" | grep -Eq -- "$2"; then
		_tap_result 0 "$3"
		return 0
	fi
	_tap_result 1 "$3"
	diag "                  '$1'"
	diag "  matches        '$2'"
	return 1
}

# run_ok DESC CMD...: passes when CMD succeeds; its output (stdout and stderr) is
# kept in $TAP_OUT and shown on failure.
run_ok() {
	_tap_desc=$1
	shift
	TAP_OUT=$("$@" 2>&1)
	_tap_st=$?
	ok "$_tap_st" "$_tap_desc" || diag "$TAP_OUT"
}

# run_fail DESC CMD...: passes when CMD fails.
run_fail() {
	_tap_desc=$1
	shift
	TAP_OUT=$("$@" 2>&1)
	_tap_st=$?
	if [ "$_tap_st" != 0 ]; then
		_tap_result 0 "$_tap_desc"
		return 0
	fi
	_tap_result 1 "$_tap_desc"
	diag "  the command succeeded; it should have failed:"
	diag "$TAP_OUT"
	return 1
}

# skip REASON [COUNT]
skip() {
	_tap_n=${2:-1}
	while [ "$_tap_n" -gt 0 ]; do
		_tap_count=$((_tap_count + 1))
		echo "ok $_tap_count # skip $1"
		_tap_n=$((_tap_n - 1))
	done
}

# bail REASON: stops the whole test run.
bail() {
	_tap_bailed=1
	echo "Bail out! $*"
	exit 255
}

# ---- temporary files -------------------------------------------------------------

# tap_tmpdir VAR: creates a private directory under ${TMPDIR:-/tmp}, stores its
# path in VAR and removes it on exit (unless TAP_KEEP=1). Short paths on purpose:
# unix socket paths are limited to 107 bytes. Must run in the test's own shell
# (not in $(...)), so the cleanup is registered there.
tap_tmpdir() {
	_tap_d=$(mktemp -d "${TMPDIR:-/tmp}/cxs.XXXXXX") || bail "mktemp -d failed"
	chmod 700 "$_tap_d"
	if [ "${TAP_KEEP:-0}" = 1 ]; then
		diag "keeping $_tap_d"
	else
		at_exit "rm -rf '$_tap_d'"
	fi
	eval "$1=\$_tap_d"
}

# ---- end -------------------------------------------------------------------------

# Called from the exit hook with the shell's status; returns the final status.
_tap_finish() {
	[ "$_tap_skipped_all" = 1 ] && return 0
	[ "$_tap_bailed" = 1 ] && return 255
	if [ -z "$_tap_planned" ]; then
		if [ "$_tap_lazy" = 1 ]; then
			diag "done_testing was not reached ($_tap_count tests ran)"
		else
			echo "1..$_tap_count"
			diag "no plan was declared"
		fi
		[ "$1" = 0 ] && return 1
		return "$1"
	fi
	if [ "$_tap_count" != "$_tap_planned" ]; then
		diag "planned $_tap_planned tests but ran $_tap_count"
		[ "$1" = 0 ] && return 1
		return "$1"
	fi
	if [ "$_tap_failed" -gt 0 ]; then
		diag "failed $_tap_failed of $_tap_count tests"
		return 1
	fi
	if [ "$1" != 0 ]; then
		diag "the test script exited with status $1"
	fi
	return "$1"
}
