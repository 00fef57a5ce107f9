#!/bin/sh
# relay-bench.sh - runs bench/relay-bench against a private sshd on 127.0.0.1.
#
#   bench/relay-bench.sh [BUILDDIR] [relay-bench options: --json --quick --strict ...]
#
# BUILDDIR defaults to $top_builddir, else the current directory; it must hold
# subsystem/codex-subsystem, tests/fake-app-server and bench/relay-bench. One sshd
# serves every path, so ssh's cipher and key exchange are the same for all:
#
#   Subsystem codex  codex-subsystem -f CONF   (Backend fake = tests/fake-app-server)
#   Subsystem raw    /bin/cat                  (the ceiling: bytes echoed)
#   Subsystem fake   tests/fake-app-server     (reference: no codex-subsystem)
#   Subsystem relayed  relay-bench --relay tests/fake-app-server
#                                              (reference: a relay that only copies)
#
# RELAY_BENCH_CIPHER (e.g. aes128-gcm@openssh.com) pins the cipher for every path.
# Prints "relay-bench: skipped: ..." and exits 0 when sshd cannot run here.
set -u

here=$(cd "$(dirname "$0")" && pwd)
: "${top_srcdir:=$(cd "$here/.." && pwd)}"
B=${top_builddir:-.}
case ${1:-} in
-*|"") ;;
*) B=$1; shift ;;
esac
B=$(cd "$B" && pwd) || exit 1
SUB=$B/subsystem/codex-subsystem
FAKE=$B/tests/fake-app-server
BENCH=$B/bench/relay-bench
for f in "$SUB" "$FAKE" "$BENCH"; do
	if [ ! -x "$f" ]; then
		echo "relay-bench.sh: $f is missing (make bench builds it)" >&2
		exit 1
	fi
done

. "$top_srcdir/tests/lib/sshd.sh"
if ! sshd_available; then
	echo "relay-bench: skipped: $SSHD_WHY"
	exit 0
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/relay-bench.XXXXXX") || exit 1
at_exit "rm -rf '$T'"
cat >"$T/conf" <<CONF
Backend fake $FAKE
DefaultBackend fake
LoginShell no
RuntimeDir $T/run
JournalDir $T/journal
LogFile $T/log
CONF
chmod 644 "$T/conf"
# Runs before the rm above (hooks run last-registered first).
at_exit "'$SUB' stop -f '$T/conf' >/dev/null 2>&1"

# sshd lives at most 3 minutes, whatever happens to this script.
SSHD_LIFETIME=180
export SSHD_LIFETIME
sshd_start "$T/sshd" "Subsystem codex $SUB -f $T/conf" "Subsystem raw /bin/cat" \
    "Subsystem fake $FAKE" "Subsystem relayed $BENCH --relay $FAKE" || exit 1
if [ -n "${RELAY_BENCH_CIPHER:-}" ]; then
	printf '\tCiphers %s\n' "$RELAY_BENCH_CIPHER" >>"$SSH_CONFIG"
fi

# What ssh negotiates with this config (the same config for every path).
neg=$(timeout 20 ssh -v -F "$SSH_CONFIG" -s testhost raw </dev/null 2>&1 | tr -d '\r')
kex=$(printf '%s\n' "$neg" | sed -n 's/.*kex: algorithm: \([^ ]*\).*/\1/p' | head -n 1)
cipher=$(printf '%s\n' "$neg" |
    sed -n 's/.*kex: server->client cipher: \([^ ]*\) MAC: \([^ ]*\).*/\1 (MAC \2)/p' |
    head -n 1)

# The bench stops itself after 110 s; timeout(1) is the backstop.
timeout -k 5 150 "$BENCH" --ssh-config "$SSH_CONFIG" --host testhost \
    --direct-subsystem fake --relayed-subsystem relayed --fake "$FAKE" \
    --conf "$T/conf" --sshd-pid "$SSHD_PID" \
    --kex "${kex:-unknown}" --cipher "${cipher:-unknown}" "$@"
rc=$?
if [ "$rc" -ne 0 ] && [ "$rc" -ne 2 ]; then
	echo "relay-bench.sh: relay-bench failed ($rc); the end of the subsystem log:" >&2
	tail -n 15 "$T/log" 2>/dev/null | sed 's/^/  /' >&2
fi
exit "$rc"
