#!/bin/sh
# static-t.sh - the static codex-subsystem builds codex-connect uploads
# (bootstrap/static/build.sh; `./dev static` and `./dev test` make them in
# $top_builddir/static/linux-ARCH/): each is a statically linked ELF for its
# machine, at most 2 MiB, runs with an empty environment from a directory holding
# nothing else, passes its proto unit tests and serves a plain-mode initialize on
# a pipe, taking user and home from the environment only (a user no passwd file
# knows); aarch64 under qemu-aarch64. What cannot run here (no build, no
# qemu-user) is skipped.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$PWD}"
. "$top_srcdir/tests/lib/tap.sh"

B=$top_builddir
FAKE=$B/tests/fake-app-server
MAX=$((2 * 1024 * 1024))
V=$(sed -n 's/^#define PACKAGE_VERSION "\(.*\)"$/\1/p' "$B/cxs_config.h" 2>/dev/null)
INIT='{"id":1,"method":"initialize","params":{"clientInfo":{"name":"t","version":"1"}}}'

tap_tmpdir T
plan_lazy

# runner ARCH: prints how to run ARCH's binaries here ("" natively, or the
# absolute path of qemu-ARCH, for `env -i`); fails when they cannot run here.
runner() {
	[ "$1" = "$(uname -m)" ] && return 0
	command -v "qemu-$1" || command -v "qemu-$1-static"
}

for arch in x86_64 aarch64; do
	d=$B/static/linux-$arch
	case $arch in
	x86_64) machine='x86-64' ;;
	aarch64) machine='ARM aarch64' ;;
	esac
	if [ ! -f "$d/codex-subsystem" ]; then
		skip "no $arch build in $d (./dev static makes it)" 4
		continue
	fi
	f=$(file -b "$d/codex-subsystem")
	like "$f" "^ELF 64-bit LSB executable, $machine," "$arch: an ELF executable for $machine"
	like "$f" 'statically linked' "$arch: statically linked"
	size=$(wc -c <"$d/codex-subsystem")
	[ "$size" -le "$MAX" ]
	ok $? "$arch: $size bytes, at most 2 MiB"
	run_ok "$arch: codex-subsystem.sha256 matches" sh -c "cd '$d' && sha256sum -c codex-subsystem.sha256"

	if ! q=$(runner "$arch"); then
		skip "$arch binaries cannot run here (no qemu-$arch: apt-get install qemu-user)" 2
		continue
	fi
	# An empty environment, in a directory holding only the binary.
	mkdir "$T/$arch"
	cp "$d/codex-subsystem" "$T/$arch/"
	out=$(cd "$T/$arch" && env -i ${q:+"$q"} ./codex-subsystem --version 2>&1)
	is "$out" "codex-subsystem $V" "$arch: env -i ./codex-subsystem --version${q:+ (under ${q##*/})}"
	if [ -d "$d/tests" ]; then
		n=0 failed=
		for t in "$d"/tests/*-t; do
			n=$((n + 1))
			if ! ${q:+"$q"} "$t" >"$T/$arch.tap" 2>&1 ||
			    grep -q '^not ok' "$T/$arch.tap"; then
				failed="$failed ${t##*/}"
				diag "$(tail -n 20 "$T/$arch.tap")"
			fi
		done
		is "$failed" "" "$arch: its $n proto unit tests pass${q:+ under ${q##*/}}"
	else
		skip "no proto unit tests in $d/tests"
	fi
done

# Each build on a pipe: plain mode, attached (Daemon no), the backend without a
# login shell; paths from %h and %u, which must come from HOME and USER.
cat >"$T/conf" <<CONF
Backend fake $FAKE
DefaultBackend fake
LoginShell no
Daemon no
JournalDir %h/journal
LogFile %h/log-%u
LogLevel DEBUG
CONF
for arch in x86_64 aarch64; do
	SUB=$T/$arch/codex-subsystem
	if [ ! -x "$SUB" ] || [ ! -x "$FAKE" ] || ! q=$(runner "$arch"); then
		skip "$arch: no build that runs here, or no tests/fake-app-server" 4
		continue
	fi
	w=${q:+ under ${q##*/}}
	H=$T/home-$arch
	mkdir -p "$H"
	# A user from LDAP or SSSD: in no passwd file, known only from sshd's variables.
	(printf '%s\n' "$INIT"; sleep 0.5) | (cd "$T/$arch" && timeout 30 env -i \
	    HOME="$H" USER=cxs-ldap-user LOGNAME=cxs-ldap-user SHELL=/bin/sh \
	    ${q:+"$q"} ./codex-subsystem -f "$T/conf") >"$T/out" 2>"$T/err"
	ok $? "$arch: plain-mode channel, environment only HOME, USER, LOGNAME, SHELL$w"
	like "$(cat "$T/out")" '^\{"id":1,"result":\{"userAgent"' "$arch: initialize answered by the backend"
	[ -s "$H/log-cxs-ldap-user" ] && [ -d "$H/journal" ]
	ok $? "$arch: %u and %h taken from USER and HOME" ||
	    diag "$(ls -la "$H" 2>&1; cat "$T/err")"
	# The static build never asks the passwd database, even for root.
	printf '%s\n' "$INIT" | (cd "$T/$arch" && timeout 30 env -i HOME="$H" \
	    ${q:+"$q"} ./codex-subsystem -f "$T/conf") >"$T/out" 2>"$T/err"
	like "$(cat "$T/err" "$T/out")" 'needs .USER or .LOGNAME' \
	    "$arch: no USER or LOGNAME: a clear error, no passwd lookup"
done

done_testing
