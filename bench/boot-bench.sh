#!/bin/sh
# boot-bench.sh - what the bootstrap costs, side by side in one run, on a private
# sshd on 127.0.0.1 with no `Subsystem codex` line and a throw-away user:
#
#   first:    codex-connect HOST --stdio up to the initialize answer on an empty
#             home: the exec fallback, the upload of the static build, the
#             remote SHA-256 check and install (a fresh user per run);
#   later:    the same once it is installed (the script finds it and execs it);
#   registered: the same with `Subsystem codex` registered (no bootstrap at all);
#   ssh true: `ssh HOST true` (OpenSSH, curve25519 like codex-connect).
#
# Medians of --runs runs (default 5). Also prints the size of each static build.
#
#   top_srcdir=.. top_builddir=$PWD sh ../bench/boot-bench.sh [--runs N] [--json]
#
# Needs root (useradd), sshd, python3 and the static builds (./dev static).

: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=$PWD}"
. "$top_srcdir/tests/lib/sshd.sh"

runs=5
json=0
while [ $# -gt 0 ]; do
	case $1 in
	--runs) runs=$2; shift ;;
	--json) json=1 ;;
	*) echo "usage: $0 [--runs N] [--json]" >&2; exit 2 ;;
	esac
	shift
done

B=$top_builddir
CONNECT=$B/client/codex-connect
SUB=$B/subsystem/codex-subsystem
FAKE=$B/tests/fake-app-server
builds=${CODEX_SSH_BUILDS:-$B/static}
export CODEX_SSH_BUILDS="$builds"
arch=$(uname -m)
if [ "$(id -u)" != 0 ] || ! sshd_available || [ ! -x "$builds/linux-$arch/codex-subsystem" ]; then
	echo "boot-bench: needs root, sshd and $builds/linux-$arch/codex-subsystem; skipped" >&2
	exit 0
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/cxs.XXXXXX")
chmod 755 "$T"
users=
cleanup() {
	for u in $users; do
		pkill -KILL -u "$u" >/dev/null 2>&1
		userdel "$u" >/dev/null 2>&1
	done
	rm -rf "$T"
}
at_exit cleanup
INIT='{"id":1,"method":"initialize","params":{"clientInfo":{"name":"boot-bench","version":"1"}}}'

mkuser() {
	u=cxs-bb-$1
	h=$T/home-$1
	userdel "$u" >/dev/null 2>&1
	useradd -M -d "$h" -s /bin/sh "$u" >/dev/null 2>&1 || return 1
	usermod -p '*' "$u" >/dev/null 2>&1
	users="$users $u"
	mkdir -p "$h/.codex/ssh"
	printf 'Backend app-server %s\nLoginShell no\n' "$FAKE" >"$h/.codex/ssh/subsystem.conf"
	chown -R "$u" "$h"
	chmod 755 "$h"
	chmod -R go-rwx "$h/.codex"
}

# ms USER [ARGS]: milliseconds from start to the initialize answer.
ms() {
	_u=$1
	shift
	python3 - "$CONNECT" "$SSH_CONFIG" "$_u" "$INIT" "$@" <<'PY'
import subprocess, sys, time
connect, cfg, user, init = sys.argv[1:5]
t0 = time.monotonic()
p = subprocess.Popen([connect, "-F", cfg, "-l", user, *sys.argv[5:], "testhost", "--stdio"],
                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
p.stdin.write((init + "\n").encode()); p.stdin.flush()
line = p.stdout.readline()
dt = (time.monotonic() - t0) * 1000
p.stdin.close(); p.wait(30)
print("%.0f" % dt if b'"result"' in line else "FAIL")
PY
}
median() {
	sort -n | awk '{ a[NR] = $1 } END { if (NR == 0) print "-"; else print a[int((NR + 1) / 2)] }'
}

sshd_start "$T/sshd" || exit 1
at_exit sshd_stop
chmod 755 "$T/sshd"
chmod 644 "$SSHD_DIR/authorized_keys"

: >"$T/first"; : >"$T/later"; : >"$T/ssh"
i=0
while [ $i -lt "$runs" ]; do
	mkuser "r$i" || exit 1
	ms "cxs-bb-r$i" >>"$T/first"
	ms "cxs-bb-r$i" >>"$T/later"
	python3 -c '
import subprocess, sys, time
t0 = time.monotonic()
subprocess.run(["ssh", "-F", sys.argv[1], "-l", sys.argv[2], "testhost", "true"], check=True)
print("%.0f" % ((time.monotonic() - t0) * 1000))' "$SSH_CONFIG" "cxs-bb-r$i" >>"$T/ssh"
	i=$((i + 1))
done
sshd_stop
sshd_start "$T/sshd2" "Subsystem codex $SUB" || exit 1
chmod 755 "$T/sshd2"
chmod 644 "$SSHD_DIR/authorized_keys"
: >"$T/reg"
i=0
while [ $i -lt "$runs" ]; do
	ms cxs-bb-r0 >>"$T/reg"
	i=$((i + 1))
done

first=$(median <"$T/first"); later=$(median <"$T/later"); reg=$(median <"$T/reg")
sshtrue=$(median <"$T/ssh")
size_x=$(stat -c %s "$builds/linux-x86_64/codex-subsystem" 2>/dev/null || echo 0)
size_a=$(stat -c %s "$builds/linux-aarch64/codex-subsystem" 2>/dev/null || echo 0)
if [ "$json" = 1 ]; then
	printf '{"first_ms":%s,"later_ms":%s,"registered_ms":%s,"ssh_true_ms":%s,"size_x86_64":%s,"size_aarch64":%s}\n' \
	    "$first" "$later" "$reg" "$sshtrue" "$size_x" "$size_a"
else
	printf 'bootstrap, median of %s runs (ms to the initialize answer)\n' "$runs"
	printf '  %-34s %6s\n' "first connect (upload + install)" "$first" \
	    "later connect (installed)" "$later" "subsystem registered" "$reg" \
	    "ssh HOST true (OpenSSH)" "$sshtrue"
	printf 'static builds: x86_64 %s bytes, aarch64 %s bytes\n' "$size_x" "$size_a"
fi
