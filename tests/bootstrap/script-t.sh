#!/bin/sh
# script-t.sh - the bootstrap script (bootstrap/remote.sh) is POSIX sh: every sh
# that may run it parses it and shellcheck finds nothing. (That it runs under
# every login shell is bootstrap-t.sh's job.)
. "$top_srcdir/tests/lib/tap.sh"

S=$top_srcdir/bootstrap/remote.sh
plan_lazy
for sh in dash bash "busybox sh" zsh; do
	set -- $sh
	if ! command -v "$1" >/dev/null 2>&1; then
		skip "$1 is not installed"
		continue
	fi
	$sh -n "$S"
	ok $? "$sh -n: the script parses"
done
if command -v shellcheck >/dev/null 2>&1; then
	run_ok "shellcheck finds nothing" shellcheck -s sh "$S"
else
	skip "shellcheck is not installed"
fi
done_testing
