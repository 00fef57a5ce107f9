#!/usr/bin/env bash
# build.sh - a static codex-subsystem that runs on any Linux host of one machine
# type whatever its libc, for codex-connect to upload where none is installed.
#
#   bootstrap/static/build.sh ARCH OUTDIR        ARCH: x86_64 or aarch64
#   bootstrap/static/build.sh sources [PKG...]   only step 1: fetch the sources
#                                                 and print "PKG DIR" per package
#
# Writes OUTDIR/codex-subsystem (static, -Os, stripped), OUTDIR/codex-subsystem.sha256
# and OUTDIR/tests/ (the proto unit tests, built the same way, for qemu-user).
# Debian 12, amd64 or arm64; `./dev static` installs the packages and runs it.
#
# The recipe:
#  1. Sources: Debian's own source packages cjson, msgpack-c, zlib and libsodium,
#     fetched with `apt-get source` (dpkg-dev) into .cache/static/src/. apt needs
#     deb-src entries: as root the script adds them for the archive and suites the
#     machine already uses (/etc/apt/sources.list.d/codex-ssh-deb-src.sources or
#     .list) and runs apt-get update. When the newest version's source cannot be
#     fetched (a security update the mirror lacks) the next older one is used, and
#     the script says so.
#  2. Toolchain: the machine's own architecture is built with musl-gcc
#     (musl-tools), giving a static musl binary. The other one with Debian's cross
#     compiler (gcc-aarch64-linux-gnu) and glibc's static libc
#     (libc6-dev-arm64-cross): musl is not packaged for cross builds, and static
#     glibc is fine because this build never calls NSS (getpw*, getgr*).
#  3. Dependencies: each with its own build system, static, -Os: zlib ./configure
#     --static, cmake for cJSON and msgpack-c, libsodium ./configure
#     --enable-minimal --disable-shared; installed into .cache/static/ARCH/deps.
#  4. codex-subsystem: this tree's configure in build-static-ARCH/ with
#     --enable-static-subsystem (-static; CXS_STATIC: user, home and shell only
#     from sshd's environment; no client, so no libssh) and pkg-config limited to
#     those deps, then `make subsystem/codex-subsystem` and the proto unit tests.
# Everything is cached: a second run only checks (about a second); a new Debian
# source version, compiler or recipe rebuilds that dependency.
set -euo pipefail

RECIPE=1                # bump to rebuild every cached dependency
PKGS="zlib cjson msgpack-c libsodium"
OPT_CFLAGS="-Os -ffunction-sections -fdata-sections"

say() { printf 'static: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

root=$(cd "$(dirname "$0")/../.." && pwd)
cache=${CXS_STATIC_CACHE:-$root/.cache/static}
jobs=$(nproc 2>/dev/null || echo 2)
mkdir -p "$cache/src"

# `sources [PKG...]`: the fuzz build compiles cJSON from Debian's source too.
if [ "${1:-}" = sources ]; then
	shift
	for p in "$@"; do
		case " $PKGS " in *" $p "*) ;; *) die "unknown package '$p' (one of: $PKGS)" ;; esac
	done
	[ $# -eq 0 ] || PKGS="$*"
	log=$cache/src/fetch.log
	: >"$log"
	MODE=sources
else
	[ $# -eq 2 ] || die "usage: $0 ARCH OUTDIR (ARCH: x86_64 or aarch64), or $0 sources [PKG...]"
	MODE=build
	ARCH=$1
	OUT=$2
	case $ARCH in
	x86_64|aarch64) ;;
	*) die "unsupported ARCH '$ARCH' (x86_64 or aarch64)" ;;
	esac
	mkdir -p "$OUT"
	case $OUT in /*) ;; *) OUT=$(cd "$OUT" && pwd) ;; esac
fi

# ---- toolchain -------------------------------------------------------------------
if [ "$MODE" = build ]; then
	hostarch=$(uname -m)
	if [ "$ARCH" = "$hostarch" ]; then
		CC=musl-gcc
		TRIPLET=
		AR="ar"
		STRIP="strip"
		command -v musl-gcc >/dev/null 2>&1 || die "musl-gcc not found (apt-get install musl-tools)"
	else
		TRIPLET=$ARCH-linux-gnu
		CC=$TRIPLET-gcc
		AR=$TRIPLET-ar
		STRIP=$TRIPLET-strip
		command -v "$CC" >/dev/null 2>&1 || die "$CC not found (apt-get install gcc-$(echo "$TRIPLET" | tr _ -) libc6-dev-$(
		    [ "$ARCH" = aarch64 ] && echo arm64 || echo amd64)-cross)"
	fi
	NM=${STRIP%strip}nm
	ccver=$($CC -dumpfullversion -dumpversion 2>/dev/null | head -n 1)
	mkdir -p "$cache/$ARCH/deps" "$cache/$ARCH/build"
	# One build per ARCH at a time; the sources have their own lock.
	exec 9>"$cache/$ARCH/.lock"
	flock 9
	log=$cache/$ARCH/build.log
	: >"$log"
fi

# run CMD...: runs CMD with its output in the log; on failure shows the log's end.
run() {
	if ! "$@" >>"$log" 2>&1; then
		tail -n 40 "$log" >&2
		die "failed: $* (full log: $log)"
	fi
}

# ---- 1. sources ------------------------------------------------------------------

# Prints the deb-src twins of the Debian entries (this release's suites) among
# the enabled deb822 files given.
deb822_src() {
	codename=$1
	shift
	awk -v cn="$codename" '
	function flush(   i) {
		if (n > 0 && types ~ /(^|[ \t])deb([ \t]|$)/ && types !~ /deb-src/ &&
		    enabled !~ /^[ \t]*no/ && ours) {
			if (printed++) print ""
			for (i = 1; i <= n; i++) print (i == ti ? "Types: deb-src" : line[i])
		}
		n = 0; types = ""; enabled = ""; ours = 0; ti = 0
	}
	FNR == 1 { flush() }
	/^[ \t]*$/ { flush(); next }
	/^#/ { next }
	{
		line[++n] = $0
		key = tolower($1)
		val = $0; sub(/^[^:]*:/, "", val)
		if (key == "types:") { ti = n; types = val }
		if (key == "enabled:") enabled = tolower(val)
		if (key == "suites:")
			for (i = 2; i <= NF; i++)
				if ($i == cn || index($i, cn "-") == 1) ours = 1
	}
	END { flush() }' "$@"
}

# Prints the deb-src twins of the one-line "deb" entries for this release.
oneline_src() {
	codename=$1
	shift
	awk -v cn="$codename" '
	$1 == "deb" {
		rest = $0; sub(/^deb[ \t]+/, "", rest)
		opts = ""
		if (rest ~ /^\[/) { opts = substr(rest, 1, index(rest, "]")); rest = substr(rest, index(rest, "]") + 1) }
		split(rest, f, /[ \t]+/)
		k = (f[1] == "") ? 2 : 1
		if (f[k + 1] == cn || index(f[k + 1], cn "-") == 1) print "deb-src " opts " " rest
	}' "$@"
}

have_sources() {
	for p in $PKGS; do
		case $(apt-cache showsrc --only-source "$p" 2>/dev/null || true) in
		*Package:*) ;;
		*) return 1 ;;
		esac
	done
}

# Makes `apt-get source` work: deb-src entries for the archive already in use.
ensure_deb_src() {
	have_sources && return 0
	[ "$(id -u)" -eq 0 ] || die "apt has no deb-src entries for $PKGS; run once as root (it adds them), or add deb-src yourself and apt-get update"
	# shellcheck disable=SC1091 # the machine's file
	codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
	[ -n "$codename" ] || die "no VERSION_CODENAME in /etc/os-release"
	d=/etc/apt/sources.list.d
	if ! cat /etc/apt/sources.list "$d"/*.list "$d"/*.sources 2>/dev/null |
	    grep -Eq '^(deb-src|Types:.*deb-src)'; then
		set -- "$d"/*.sources
		if [ -e "$1" ]; then
			deb822_src "$codename" "$@" >"$d/codex-ssh-deb-src.sources.tmp"
			if [ -s "$d/codex-ssh-deb-src.sources.tmp" ]; then
				mv "$d/codex-ssh-deb-src.sources.tmp" "$d/codex-ssh-deb-src.sources"
				say "added deb-src entries: $d/codex-ssh-deb-src.sources"
			fi
			rm -f "$d/codex-ssh-deb-src.sources.tmp"
		fi
		set -- /etc/apt/sources.list "$d"/*.list
		oneline_src "$codename" "$@" 2>/dev/null >"$d/codex-ssh-deb-src.list.tmp" || true
		if [ -s "$d/codex-ssh-deb-src.list.tmp" ]; then
			mv "$d/codex-ssh-deb-src.list.tmp" "$d/codex-ssh-deb-src.list"
			say "added deb-src entries: $d/codex-ssh-deb-src.list"
		fi
		rm -f "$d/codex-ssh-deb-src.list.tmp"
	fi
	say "apt-get update (source indexes)"
	apt-get update -qq >/dev/null 2>&1 || apt-get update >&2 || true
	have_sources || die "apt-get source cannot find $PKGS even with deb-src entries (see /etc/apt/sources.list.d/)"
}

# fetch PKG: sets SRC to the extracted source tree of PKG's newest fetchable
# version, cached in $cache/src/PKG_VERSION. A version whose source could not be
# fetched is remembered (.unfetchable-*) and not asked for again.
fetch() {
	pkg=$1
	versions=$(apt-cache showsrc --only-source "$pkg" 2>/dev/null |
	    awk '/^Version:/ { print $2 }' | sort -u -r -V)
	[ -n "$versions" ] || die "apt knows no source package $pkg"
	for v in $versions; do
		name=${pkg}_${v#*:}
		SRC=$cache/src/$name
		[ -f "$SRC/.fetched" ] && return 0
		[ -f "$cache/src/.unfetchable-$name" ] && continue
		tmp=$cache/src/.fetch-$pkg
		rm -rf "$tmp"
		mkdir -p "$tmp"
		chmod 755 "$tmp"
		if (cd "$tmp" && apt-get source -qq "$pkg=$v") >>"$log" 2>&1; then
			rm -rf "$SRC"
			mv "$(find "$tmp" -mindepth 1 -maxdepth 1 -type d | head -n 1)" "$SRC"
			rm -rf "$tmp"
			: >"$SRC/.fetched"
			return 0
		fi
		rm -rf "$tmp"
		say "note: the source of $pkg $v cannot be fetched; trying an older one"
		: >"$cache/src/.unfetchable-$name"
	done
	tail -n 20 "$log" >&2
	die "apt-get source $pkg failed for every version ($(echo "$versions" | tr '\n' ' '))"
}

# The cached source trees are enough when apt cannot say what is newest (no
# deb-src on a machine that kept .cache/); otherwise ask apt.
declare -A SRCS
exec 8>"$cache/src/.lock"
flock 8
if have_sources || [ "$(id -u)" -eq 0 ]; then
	ensure_deb_src
	for p in $PKGS; do
		fetch "$p"
		SRCS[$p]=$SRC
	done
else
	for p in $PKGS; do
		SRC=$(find "$cache/src" -mindepth 1 -maxdepth 1 -name "${p}_*" -type d | sort -V | tail -n 1)
		if [ -z "$SRC" ] || [ ! -f "$SRC/.fetched" ]; then
			die "no deb-src entries and no cached source of $p: run once as root"
		fi
		SRCS[$p]=$SRC
	done
fi
# Debian builds libsodium "--with autoreconf": its source has no configure yet.
if [ -n "${SRCS[libsodium]:-}" ] && [ ! -x "${SRCS[libsodium]}/configure" ]; then
	say "autoreconf in $(basename "${SRCS[libsodium]}")"
	(cd "${SRCS[libsodium]}" && run autoreconf -fi)
fi
flock -u 8
if [ "$MODE" = sources ]; then
	for p in $PKGS; do
		printf '%s %s\n' "$p" "${SRCS[$p]}"
	done
	exit 0
fi

# ---- 2, 3. dependencies ----------------------------------------------------------
deps=$cache/$ARCH/deps
cmake_cross=()
[ -z "$TRIPLET" ] || cmake_cross=(-DCMAKE_SYSTEM_NAME=Linux -DCMAKE_SYSTEM_PROCESSOR="$ARCH")

# built NAME SRC: true when NAME was built from SRC with this toolchain and recipe.
built() {
	[ "$(cat "$deps/.stamp-$1" 2>/dev/null)" = "$RECIPE ${2##*/} $CC $ccver $OPT_CFLAGS" ]
}
stamp() {
	printf '%s' "$RECIPE ${2##*/} $CC $ccver $OPT_CFLAGS" >"$deps/.stamp-$1"
}
# fresh NAME SRC: an empty build tree for NAME holding a copy of SRC.
fresh() {
	B=$cache/$ARCH/build/$1
	rm -rf "$B"
	cp -R "$2" "$B"
}

build_zlib() {
	built zlib "${SRCS[zlib]}" && return 0
	say "$ARCH: building zlib ($(basename "${SRCS[zlib]}"))"
	fresh zlib "${SRCS[zlib]}"
	(cd "$B" && run env CC="$CC" AR="$AR" CHOST="$TRIPLET" CFLAGS="$OPT_CFLAGS" \
	    ./configure --static --prefix="$deps")
	run make -C "$B" -j"$jobs" libz.a
	run make -C "$B" install
	rm -rf "$B"
	stamp zlib "${SRCS[zlib]}"
}

# cmake_dep NAME SRC OPTIONS...
cmake_dep() {
	name=$1 src=$2
	shift 2
	built "$name" "$src" && return 0
	say "$ARCH: building $name (${src##*/})"
	fresh "$name" "$src"
	run cmake -S "$B" -B "$B/_build" -DCMAKE_BUILD_TYPE=MinSizeRel \
	    -DCMAKE_C_COMPILER="$CC" -DCMAKE_C_FLAGS="$OPT_CFLAGS" "${cmake_cross[@]}" \
	    -DCMAKE_INSTALL_PREFIX="$deps" -DCMAKE_INSTALL_LIBDIR=lib \
	    -DBUILD_SHARED_LIBS=OFF "$@"
	run make -C "$B/_build" -j"$jobs"
	run make -C "$B/_build" install
	rm -rf "$B"
	stamp "$name" "$src"
}

build_sodium() {
	built libsodium "${SRCS[libsodium]}" && return 0
	say "$ARCH: building libsodium ($(basename "${SRCS[libsodium]}"))"
	fresh libsodium "${SRCS[libsodium]}"
	(cd "$B" && run ./configure ${TRIPLET:+--host=$TRIPLET} CC="$CC" \
	    CFLAGS="$OPT_CFLAGS" --prefix="$deps" --libdir="$deps/lib" \
	    --disable-shared --enable-static --enable-minimal --disable-pie \
	    --disable-dependency-tracking)
	run make -C "$B" -j"$jobs"
	run make -C "$B" install
	rm -rf "$B"
	stamp libsodium "${SRCS[libsodium]}"
}

build_zlib
cmake_dep cjson "${SRCS[cjson]}" -DENABLE_CJSON_TEST=OFF -DENABLE_CJSON_UTILS=OFF \
    -DENABLE_TARGET_EXPORT=OFF
cmake_dep msgpack-c "${SRCS[msgpack-c]}" -DMSGPACK_BUILD_EXAMPLES=OFF \
    -DMSGPACK_BUILD_TESTS=OFF
build_sodium

# ---- 4. codex-subsystem ----------------------------------------------------------
if ! [ -x "$root/configure" ] || ! [ -f "$root/build-aux/install-sh" ] ||
    [ "$root/configure.ac" -nt "$root/configure" ] ||
    [ "$root/Makefile.am" -nt "$root/Makefile.in" ]; then
	say "autogen.sh"
	(cd "$root" && run ./autogen.sh)
fi
bdir=$root/build-static-$ARCH
mkdir -p "$bdir"
set -- --enable-static-subsystem ${TRIPLET:+--host=$TRIPLET} CC="$CC" \
    CFLAGS="$OPT_CFLAGS" LDFLAGS="-Wl,--gc-sections" \
    PKG_CONFIG=pkg-config PKG_CONFIG_LIBDIR="$deps/lib/pkgconfig" PKG_CONFIG_PATH=
flags="$* $ccver"
if [ ! -f "$bdir/config.status" ] || [ "$(cat "$bdir/.static-flags" 2>/dev/null)" != "$flags" ]; then
	say "$ARCH: configuring $bdir"
	(cd "$bdir" && run "$root/configure" "$@")
	printf '%s' "$flags" >"$bdir/.static-flags"
fi
tests=()
for t in "$root"/tests/proto/*-t.c; do
	t=${t#"$root"/}
	tests+=("${t%.c}")
done
run make -C "$bdir" -j"$jobs" subsystem/codex-subsystem "${tests[@]}"

# Users from LDAP or SSSD, and glibc's static NSS (which needs the host's shared
# libraries of the same glibc version): our code must not look users up. (libc's
# glob() links getpwnam_r for GLOB_TILDE, which register.c never passes.)
bin=$bdir/subsystem/codex-subsystem
nss=$(find "$bdir/subsystem" "$bdir/proto" -name '*.o' -exec "$NM" -u {} + |
    awk '{ print $NF }' |
    grep -E '^(getpw|getgr|getspnam|initgroups|getgrouplist|getlogin|getaddrinfo|gethostby|getservby)' |
    sort -u | tr '\n' ' ' || true)
[ -z "$nss" ] || die "$ARCH: codex-subsystem calls NSS functions: $nss"
mkdir -p "$OUT/tests"
"$STRIP" -o "$OUT/codex-subsystem.tmp" "$bin"
chmod 755 "$OUT/codex-subsystem.tmp"
mv "$OUT/codex-subsystem.tmp" "$OUT/codex-subsystem"
(cd "$OUT" && sha256sum codex-subsystem >codex-subsystem.sha256)
for t in "${tests[@]}"; do
	"$STRIP" -o "$OUT/tests/${t##*/}" "$bdir/$t"
done
flock -u 9
printf '%s\n' "$OUT/codex-subsystem"
