# atexit.sh - exit hooks shared by the shell libraries (tap.sh, sshd.sh, codex.sh),
# whichever is sourced first. POSIX sh. Sourcing it twice is harmless.
#
#   at_exit "kill $pid"     # eval'd when the shell exits, newest first
#
# The EXIT trap belongs to this file: tests use at_exit, not trap. If tap.sh is
# loaded, its _tap_finish runs last and decides the exit status.
if [ -z "${_cxs_exit_init:-}" ]; then
	_cxs_exit_init=1
	_cxs_exit_hooks=

	at_exit() {
		_cxs_exit_hooks="$*
$_cxs_exit_hooks"
	}

	_cxs_on_exit() {
		_cxs_rc=$?
		trap - EXIT
		set +e
		_cxs_ifs=$IFS
		IFS='
'
		set -f
		for _cxs_h in $_cxs_exit_hooks; do
			IFS=$_cxs_ifs
			set +f
			eval "$_cxs_h"
		done
		IFS=$_cxs_ifs
		set +f
		if command -v _tap_finish >/dev/null 2>&1; then
			_tap_finish "$_cxs_rc"
			_cxs_rc=$?
		fi
		exit "$_cxs_rc"
	}
	trap _cxs_on_exit EXIT
	# The EXIT trap runs on these too once they are turned into exits.
	trap 'exit 129' HUP
	trap 'exit 130' INT
	trap 'exit 143' TERM
fi
