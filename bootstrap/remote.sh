# shellcheck shell=sh
# remote.sh - the bootstrap codex-connect runs on a host where the `codex` SSH
# subsystem is not registered. Embedded into codex-connect at build time.
#
# codex-connect opens an exec channel running `exec /bin/sh -s` and sends one line:
#     exec /bin/sh -c 'THIS SCRIPT' cxs-boot TAG VERSION
# so that whichever shell reads the channel (sh, or a shell an rc file exec'd)
# hands the script to /bin/sh whole. Answers are lines "@@TAG@@ WORD ARGS" printed
# after a newline; anything else on stdout is an rc file's noise. The client sends
# nothing until the script asks, so no shell can read ahead into its data:
#
#   -> HELLO OS ARCH                  always first
#   -> EXEC PATH                      codex-subsystem VERSION is installed: it is
#                                     exec'd on this channel right after this line
#   -> NEED OS ARCH                   none installed: the client answers a line
#   <- UPLOAD SIZE SHA256             SIZE bytes follow once READY is printed
#   <- APPSERVER                      the client has no build for OS ARCH: run
#                                     `codex app-server` instead (see FALLBACK)
#   -> READY                          (after UPLOAD) send the bytes now
#   -> EXEC PATH                      verified, installed, exec'd
#   -> FALLBACK WHAT REASON...        codex-subsystem cannot run here (WHAT:
#                                     verify, run, dir: nowhere to install it);
#                                     the client answers APPSERVER or closes
#   -> EXEC app-server                `codex app-server` (plain JSONL, no resume)
#                                     runs on the channel with the login
#                                     environment from the next line on
#   -> FAIL WHAT REASON...            nothing runs; WHAT: dir, lock, checksum,
#                                     size, none
#
# With MODE `install` (`codex-connect HOST install`) the script ends with
# "INSTALLED PATH" instead of EXEC; with `uninstall` it stops the session hosts
# the installed versions run, removes ~/.codex/ssh/bin and says "REMOVED PATH".
#
# POSIX sh only; absolute-path-free but PATH is set so that a login PATH missing
# mkdir, chmod or sha256sum does not matter. Installs under
# ~/.codex/ssh/bin/VERSION/ in 0700 directories owned by the user; refuses a
# directory that is a symlink, not the user's, or group/world-writable. One upload
# at a time per version (a lock directory; a lock whose holder died is taken over).

tag=$1
version=$2
mode=${3:-run}
PATH=/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin${PATH:+:$PATH}
export PATH
umask 077

say() {
	printf '\n@@%s@@ %s\n' "$tag" "$*"
}

fail() {
	say FAIL "$@"
	exit 1
}

# codex app-server through the login shell (csh takes -l only alone: its login
# file is read by hand). Its rc files may print before the first message; the
# client drops lines that are not JSON.
appserver() {
	rm -rf "${lock:-/nonexistent/.lock}" "${tmp:-}"
	trap - EXIT
	say EXEC app-server
	sh=${SHELL:-/bin/sh}
	case ${sh##*/} in
	*csh) exec "$sh" -c 'if ( -r ~/.login ) source ~/.login >& /dev/null; exec codex app-server' ;;
	*) exec "$sh" -l -c 'exec codex app-server' ;;
	esac
}

# codex-subsystem cannot run here: offer the plain app server instead.
fallback() {
	say FALLBACK "$@"
	IFS=' ' read -r answer || exit 1
	[ "$answer" = APPSERVER ] || exit 1
	appserver
}

os=$(uname -s 2>/dev/null) || os=unknown
arch=$(uname -m 2>/dev/null) || arch=unknown
say HELLO "$os" "$arch"

# The user's home: sshd sets HOME; never ask NSS.
home=${HOME:-}
if [ -z "$home" ] || [ ! -d "$home" ]; then
	fail dir "no usable HOME ($home)"
fi

# Old versions go once nothing runs them (Linux: no process of ours has one as
# its executable; elsewhere nothing is pruned) and no upload is in progress.
prune() {
	[ -d /proc/self ] || return 0
	for old in "$home"/.codex/ssh/bin/*/codex-subsystem; do
		[ -f "$old" ] || continue
		d=${old%/codex-subsystem}
		[ "${d##*/}" = "$version" ] && continue
		[ -e "$d/.lock" ] && continue
		for p in /proc/[0-9]*/exe; do
			[ "$(readlink "$p" 2>/dev/null)" = "$old" ] && continue 2
		done
		rm -rf "$d"
	done
}

# Run it here, or (install) only say where it is.
run() {
	prune
	if [ "$mode" = install ]; then
		say INSTALLED "$1"
		exit 0
	fi
	say EXEC "$1"
	exec "$1"
}

if [ "$mode" = uninstall ]; then
	b=$home/.codex/ssh/bin
	[ -L "$b" ] && fail dir "$b is a symbolic link; not removing it"
	if [ -d "$b" ]; then
		for v in "$b"/*/codex-subsystem; do
			[ -x "$v" ] && "$v" stop >/dev/null 2>&1
		done
		rm -rf "$b" || fail dir "cannot remove $b"
	fi
	say REMOVED "$b"
	exit 0
fi

# A codex-subsystem of our version: "codex-subsystem VERSION" from --version.
right_version() {
	[ -f "$1" ] && [ -x "$1" ] || return 1
	v=$("$1" --version 2>/dev/null) || return 1
	[ "$v" = "codex-subsystem $version" ]
}

dir=$home/.codex/ssh/bin/$version
bin=$dir/codex-subsystem

find_installed() {
	for c in "$bin" /usr/local/libexec/codex-subsystem /usr/libexec/codex-subsystem \
	    /usr/local/lib/codex-ssh/codex-subsystem /usr/lib/codex-ssh/codex-subsystem \
	    "$(command -v codex-subsystem 2>/dev/null)"; do
		[ -n "$c" ] && right_version "$c" && { found=$c; return 0; }
	done
	return 1
}

if find_installed; then
	run "$found"
fi

# A directory we may install into: ours, a real directory, nobody else can write.
safe_dir() {
	if [ ! -e "$1" ] && [ ! -L "$1" ]; then
		mkdir -m 700 "$1" 2>/dev/null || [ -d "$1" ] ||
		    fallback dir "cannot create $1 (a read-only home?)"
	fi
	[ -L "$1" ] && fail dir "$1 is a symbolic link; refusing to use it"
	[ -d "$1" ] || fail dir "$1 is not a directory"
	[ -O "$1" ] || fail dir "$1 is not owned by you; refusing to use it"
	perm=$(ls -ld "$1" 2>/dev/null) || fail dir "cannot inspect $1"
	case $perm in
	?????w????*|????????w?*) fail dir "$1 is writable by others; refusing to use it" ;;
	esac
}
for d in "$home/.codex" "$home/.codex/ssh" "$home/.codex/ssh/bin" "$dir"; do
	safe_dir "$d"
done

# One upload per version at a time. The lock holds its owner's pid; a lock whose
# owner is gone (a killed upload) is taken over.
lock=$dir/.lock
n=0
while ! mkdir "$lock" 2>/dev/null; do
	owner=$(cat "$lock/pid" 2>/dev/null)
	if [ -n "$owner" ] && ! kill -0 "$owner" 2>/dev/null; then
		rm -rf "$lock"
		continue
	fi
	if [ -z "$owner" ] && [ "$n" -ge 10 ]; then
		# A lock without a pid for 2 s: its owner died between the two steps.
		rm -rf "$lock"
		continue
	fi
	n=$((n + 1))
	[ "$n" -le 600 ] || fail lock "another upload holds $lock for over 2 minutes"
	sleep 0.2 2>/dev/null || sleep 1
done
echo $$ >"$lock/pid"
trap 'rm -rf "$lock" "$tmp"' EXIT
trap 'exit 1' HUP INT TERM

# Another first connection may have installed it while we waited.
if find_installed; then
	rm -rf "$lock"
	trap - EXIT
	run "$found"
fi

say NEED "$os" "$arch"
IFS=' ' read -r what size sum || fail none "no answer from the client"
case $what in
UPLOAD) ;;
APPSERVER) appserver ;;
*) fail none "no build of codex-subsystem $version for $os $arch" ;;
esac
case $size in
''|*[!0-9]*) fail size "bad size $size" ;;
esac

tmp=$dir/.upload.$$
# A new file (noclobber: O_EXCL), never one planted in its place; the directory
# is ours and nobody else can write to it (safe_dir).
rm -f "$tmp" 2>/dev/null
(set -C; : >"$tmp") 2>/dev/null || fallback dir "cannot write in $dir (a full or read-only disk?)"
say READY
if command -v head >/dev/null 2>&1 && head -c 1 </dev/null >/dev/null 2>&1; then
	head -c "$size" >"$tmp"
else
	dd bs=1 count="$size" of="$tmp" 2>/dev/null
fi
got=$(wc -c <"$tmp" | tr -d ' ')
[ "$got" = "$size" ] || fail size "received $got of $size bytes"

if command -v sha256sum >/dev/null 2>&1; then
	have=$(sha256sum "$tmp")
elif command -v shasum >/dev/null 2>&1; then
	have=$(shasum -a 256 "$tmp")
elif command -v openssl >/dev/null 2>&1; then
	have=$(openssl dgst -sha256 -r "$tmp")
elif command -v busybox >/dev/null 2>&1; then
	have=$(busybox sha256sum "$tmp")
else
	fallback verify "no sha256sum, shasum, openssl or busybox to verify the upload; not running it"
fi
have=${have%% *}
[ "$have" = "$sum" ] || fail checksum "the upload's SHA-256 is $have, not $sum; not running it"

chmod 700 "$tmp" || fail dir "cannot chmod $tmp"
"$tmp" --version >/dev/null 2>&1 ||
    fallback run "the uploaded codex-subsystem does not run here (a noexec home?)"
mv -f "$tmp" "$bin" || fail dir "cannot install $bin"
rm -rf "$lock"
trap - EXIT
run "$bin"
