#!/bin/sh
# codex-bench.sh - the comparative benchmark: the real Codex app server
# (@openai/codex@0.169.0, the mock model of tests/mock-responses.py) reached over
# SSH the ways people do today and through codex-ssh, side by side, on one private
# sshd on 127.0.0.1:
#
#   exec           ssh HOST codex app-server                   (stdio JSONL)
#   desktop_proxy  ssh HOST codex app-server proxy --sock SOCK to a
#                  `codex app-server --listen unix://SOCK` daemon (WebSocket)
#   plain          codex-connect HOST --stdio --plain
#   framed         codex-connect HOST --stdio --no-compress
#   framed_zlib    codex-connect HOST --stdio                   (the default)
#   raw            ssh -s HOST raw    (Subsystem raw /bin/cat: the ceiling)
#
# Figures per path: cold connect -> initialize response (ms), small-request RTT
# (us), a 20,000-delta turn and a ~1 MB command-output turn (messages/s, MB/s,
# time to turn/completed), bytes on the wire of each, peak RSS of the transport's
# processes, reconnect -> resumed (ms); then the goals. bench/codex-bench.py does
# the measuring and says how each figure is taken.
#
# Fairness: one sshd (OpenSSH, chacha20-poly1305 for every client), one app
# server binary, one CODEX_HOME and mock, the same prompts, interleaved runs.
# The subsystem runs with LoginShell no, so its backend gets the environment
# sshd gives it, like `ssh HOST codex app-server`. Each client negotiates its
# own key exchange (OpenSSH: sntrup761x25519; codex-connect: curve25519), and
# OpenSSH pinned to curve25519-sha256 is shown as a reference for the connect
# time. Wire bytes are the kernel's count for the client's TCP connection, the
# same for every path (SSH overhead included).
#
#   top_srcdir=.. top_builddir=$PWD sh ../bench/codex-bench.sh [--json]
#       [--quick] [--rounds N] [--connects N] [--resumes N] [--deltas N]
#
# --json prints one JSON object ({"rows": [...], "goals": ..., ...}) instead of
# the table; --json-out FILE writes it to FILE as well as printing the table.
# --quick: 1 round, 3 connects, 1 resume per path. Defaults: 7 cold connects per
# path (after a warm-up), 4 rounds of RTT + turns (fewer if the time budget of
# about 230 s runs short), 2 resumes per path. CODEX_BENCH_KEEP=1 keeps the work
# directory (logs) and prints where it is.
# Prints "codex-bench: skipped: ..." and exits 0 when sshd, python3, ss or the
# Codex CLI (npm) is not available. Traffic stays on 127.0.0.1; every process is
# bounded (sshd, the mock, the daemon and the relay by lifetimes, the driver by
# timeout(1)); the default run takes about 3 minutes on 2 CPUs.

: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=$PWD}"
# Absolute, so that CODEX_BIN (under $top_srcdir/.cache) is too.
top_srcdir=$(cd "$top_srcdir" && pwd) || exit 1
# shellcheck source=tests/lib/sshd.sh
. "$top_srcdir/tests/lib/sshd.sh"
# shellcheck source=tests/lib/codex.sh
. "$top_srcdir/tests/lib/codex.sh"

B=$(cd "$top_builddir" && pwd)
CONNECT=$B/client/codex-connect
SUB=$B/subsystem/codex-subsystem
DRIVER=$top_srcdir/bench/codex-bench.py
json=0
args=
while [ $# -gt 0 ]; do
	case $1 in
	--json) json=1; args="$args --json" ;;
	--quick) args="$args --rounds 1 --connects 3 --resumes 1" ;;
	--rounds|--connects|--resumes|--deltas|--outage|--json-out)
		[ $# -ge 2 ] || { echo "codex-bench: $1 needs a value" >&2; exit 2; }
		args="$args $1 $2"; shift ;;
	*) echo "usage: $0 [--json] [--json-out FILE] [--quick] [--rounds N] [--connects N] [--resumes N] [--deltas N] [--outage S]" >&2
	   exit 2 ;;
	esac
	shift
done
skip() { echo "codex-bench: skipped: $*"; exit 0; }
die() { echo "codex-bench: $*" >&2; exit 1; }

sshd_available || skip "$SSHD_WHY"
for f in "$CONNECT" "$SUB"; do
	[ -x "$f" ] || die "not built: $f"
done
command -v python3 >/dev/null 2>&1 || skip "python3 not installed"
command -v ss >/dev/null 2>&1 || skip "ss (iproute2) not installed: it counts the wire bytes"
codex_install || skip "$CODEX_WHY"
unset SSH_AUTH_SOCK SSH_AGENT_PID SSH_ASKPASS SSH_ASKPASS_REQUIRE DISPLAY \
    WAYLAND_DISPLAY CODEX_CLI OPENAI_API_KEY CODEX_API_KEY

T=$(mktemp -d "${TMPDIR:-/tmp}/codex-bench.XXXXXX") || die "mktemp failed"
chmod 700 "$T"
if [ "${CODEX_BENCH_KEEP:-0}" = 1 ]; then
	at_exit "echo 'codex-bench: kept $T' >&2"
else
	at_exit "rm -rf '$T'"
fi
MOCK_LIFETIME=600 codex_mock_start "$T/mock" >/dev/null 2>&1 || die "the mock model did not start"

# One configuration for every codex-connect path. LoginShell no: the backend gets
# the environment sshd gives the subsystem, as `ssh HOST codex app-server` does.
cat >"$T/conf" <<CONF
Backend app-server $CODEX_BIN app-server
DefaultBackend app-server
SetEnv CODEX_HOME=$CODEX_HOME
LoginShell no
RuntimeDir $T/run
JournalDir $T/journal
LogFile $T/subsystem.log
CONF
at_exit "'$SUB' stop -f '$T/conf' >/dev/null 2>&1"

# sshd offers OpenSSH's default key exchange too, so each client gets its own.
SSHD_LIFETIME=600 sshd_start "$T/sshd" \
    "KexAlgorithms sntrup761x25519-sha512@openssh.com,curve25519-sha256,curve25519-sha256@libssh.org" \
    "Subsystem codex $SUB -f $T/conf" "Subsystem raw /bin/cat" >/dev/null 2>&1 ||
	die "sshd did not start"

# Codex Desktop's way: a daemon on a unix socket (WebSocket), same CODEX_HOME.
SOCK=$T/app.sock
CODEX_HOME=$CODEX_HOME timeout -k 5 600 "$CODEX_BIN" app-server --listen "unix://$SOCK" \
    </dev/null >"$T/daemon.log" 2>&1 &
DAEMON_PID=$!
at_exit "kill $DAEMON_PID 2>/dev/null"
i=0
while [ ! -S "$SOCK" ] && [ $i -lt 200 ] && kill -0 "$DAEMON_PID" 2>/dev/null; do
	sleep 0.05
	i=$((i + 1))
done
[ -S "$SOCK" ] || die "the unix:// app server did not start: $(tail -n 3 "$T/daemon.log")"

# A TCP relay the resume measurement cuts (tests/client/relay.py).
relay_start "$T" 600 || die "the relay did not start"
sshd_known_hosts "$T/known_hosts" "$SSHD_PORT" "$RELAY_PORT"
# No KexAlgorithms, no Ciphers: each client as it comes.
cat >"$T/cfg" <<EOF
Host benchhost
	HostName 127.0.0.1
	Port $SSHD_PORT
Host relayhost
	HostName 127.0.0.1
	Port $RELAY_PORT
Host *
	User $SSHD_USER
	IdentityFile $SSHD_CLIENT_KEY
	IdentitiesOnly yes
	IdentityAgent none
	PreferredAuthentications publickey
	UserKnownHostsFile $T/known_hosts
	GlobalKnownHostsFile /dev/null
	StrictHostKeyChecking yes
	UpdateHostKeys no
	BatchMode yes
	LogLevel ERROR
	ControlMaster no
	ControlPath none
	ConnectTimeout 10
EOF
chmod 600 "$T/cfg"

[ "$json" = 1 ] || echo "codex-bench: $CODEX_BIN; sshd on 127.0.0.1:$SSHD_PORT (the only listener)" >&2
# shellcheck disable=SC2086
timeout -k 5 360 python3 "$DRIVER" --ssh-config "$T/cfg" --host benchhost \
    --relay-host relayhost --codex-bin "$CODEX_BIN" --codex-home "$CODEX_HOME" \
    --connect "$CONNECT" --sub "$SUB" --conf "$T/conf" --daemon-sock "$SOCK" \
    --relay-ctl "$T/relay.ctl" --relay-log "$T/relay.log" --workdir "$T" \
    --sshd-pid "$SSHD_PID" --sshd-port "$SSHD_PORT" --relay-pid "$RELAY_PID" \
    --daemon-pid "$DAEMON_PID" $args
rc=$?
if [ "$rc" -ne 0 ]; then
	echo "codex-bench: the driver failed ($rc); the end of the clients' stderr and the subsystem log:" >&2
	tail -n 10 "$T/clients.err" 2>/dev/null | sed 's/^/  /' >&2
	tail -n 10 "$T/subsystem.log" 2>/dev/null | sed 's/^/  /' >&2
fi
exit "$rc"
