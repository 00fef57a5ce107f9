#!/bin/sh
# tests/e2e/demo.sh - codex-ssh end to end on this machine: the real Codex app server
# behind a private sshd, reached with codex-connect over one SSH channel.
#
#   tests/e2e/demo.sh [BUILDDIR]        (./dev demo builds, then runs this)
#
# It starts a private OpenSSH sshd on 127.0.0.1 in a temporary directory (fresh
# host and client keys; the demo's only listening port for the tunnel), registers
# the codex subsystem in that sshd's config, installs the Codex CLI pinned by
# tests/lib/codex.sh when it is not cached yet, and uses your Codex login when
# ${CODEX_HOME:-~/.codex}/auth.json exists, else a local mock model (it says
# which; CODEX_SSH_DEMO_MOCK=1 forces the mock). Then, through codex-connect:
# a turn streamed to the terminal, a command approval declined (no terminal) and
# one accepted (--yes), `status`, and the line that opens the TUI. With a
# terminal it offers to open the TUI right away. Everything it started is
# stopped and removed on exit. Works as root or as a user, with or without a
# terminal; every step is bounded in time.
set -u

here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=$(cd "$here/../.." && pwd)
B=${1:-$top_srcdir/build}
B=$(cd "$B" 2>/dev/null && pwd) || { echo "demo: no build directory $1" >&2; exit 1; }
. "$top_srcdir/tests/lib/sshd.sh"
. "$top_srcdir/tests/lib/codex.sh"
. "$top_srcdir/tests/lib/nolisten.sh"

CONNECT=$B/client/codex-connect
SUB=$B/subsystem/codex-subsystem
step=0

if [ -t 1 ]; then
	bold=$(printf '\033[1m') dim=$(printf '\033[2m') off=$(printf '\033[0m')
else
	bold='' dim='' off=''
fi
say() { printf '%s\n' "$*"; }
section() { step=$((step + 1)); printf '\n%s==> %d. %s%s\n' "$bold" "$step" "$*" "$off"; }
cmdline() { printf '%s$ %s%s\n' "$dim" "$*" "$off"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }

for f in "$CONNECT" "$SUB"; do
	[ -x "$f" ] || die "not built: $f (run ./dev demo, or make in $B)"
done
sshd_available || die "$SSHD_WHY"
command -v python3 >/dev/null 2>&1 || die "python3 is needed"
unset SSH_AUTH_SOCK DISPLAY CODEX_CLI

D=$(mktemp -d "${TMPDIR:-/tmp}/codex-ssh-demo.XXXXXX") || die "mktemp failed"
chmod 700 "$D"
at_exit "rm -rf '$D'"
t0=$(date +%s)

say "${bold}codex-ssh demo${off}: the real Codex app server on a \"remote\" host (a private"
say "sshd on this machine), driven over SSH with no port opened by codex-ssh."
say "Working directory: $D (removed at the end)."

# ---- the Codex CLI and the model ------------------------------------------------------

section "Codex CLI"
if ! codex_install; then
	die "$CODEX_WHY"
fi
say "$("$CODEX_BIN" --version) at $CODEX_BIN"

# use_mock: the local mock model, its CODEX_HOME, and prompts that make it stream,
# ask for approvals and run commands.
use_mock() {
	MODEL=mock
	MOCK_LIFETIME=600 codex_mock_start "$D/mock" || die "the mock model did not start"
	DEMO_HOME=$CODEX_HOME
	P1="story"
	P2="approve exec='uname -sr'"
	P3="approve exec='echo approved by codex-connect --yes; hostname'"
	say "Model: ${bold}a local mock model${off} (tests/mock-responses.py on 127.0.0.1:$MOCK_PORT,"
	say "standing in for the OpenAI API). The Codex app server itself is the real one."
}

auth_home=${CODEX_HOME:-$HOME/.codex}
if [ "${CODEX_SSH_DEMO_MOCK:-0}" != 1 ] && [ -f "$auth_home/auth.json" ]; then
	MODEL=real
	DEMO_HOME=$auth_home
	P1="Say hello in two short sentences, and mention that you are reached over SSH."
	P2="Run the shell command: touch $D/work/declined.txt (it needs write access; ask for it)."
	P3="Run the shell command: touch $D/work/accepted.txt && echo created (it needs write access; ask for it)."
	say "Model: ${bold}your Codex login${off} ($auth_home/auth.json) and your config; the"
	say "turns below are real requests to your model (CODEX_SSH_DEMO_MOCK=1 uses the"
	say "local mock model instead). What the model does with the approval prompts is up to it."
else
	say "No Codex login in $auth_home (auth.json)."
	use_mock
fi

# ---- the "remote" host: a private sshd with the subsystem registered -------------------

section "A private sshd on 127.0.0.1 with the codex subsystem registered"
mkdir -p "$D/work"
write_conf() {
	cat >"$D/subsystem.conf" <<CONF
# codex-subsystem's config for the demo (see codex-subsystem.conf(5))
Backend app-server $CODEX_BIN app-server
DefaultBackend app-server
SetEnv CODEX_HOME=$DEMO_HOME
RuntimeDir $D/run
JournalDir $D/journal
LogFile $D/subsystem.log
IdleTimeout 2m
CONF
}
write_conf
at_exit "'$SUB' stop -f '$D/subsystem.conf' >/dev/null 2>&1"
SSHD_LIFETIME=900 sshd_start "$D/sshd" "AllowTcpForwarding no" "DisableForwarding yes" \
    "Subsystem codex $SUB -f $D/subsystem.conf" || die "sshd did not start (see $D/sshd/sshd.log)"
say "sshd (pid $SSHD_PID) listens on 127.0.0.1:$SSHD_PORT: the only listening port of the"
say "tunnel. Forwarding is disabled (AllowTcpForwarding no, DisableForwarding yes)."
say "Its sshd_config registers the subsystem:"
say "  $(grep '^Subsystem' "$SSHD_DIR/sshd_config")"

cat >"$D/ssh_config" <<EOF
Host devbox
	HostName 127.0.0.1
	Port $SSHD_PORT
	User $SSHD_USER
	IdentityFile $SSHD_CLIENT_KEY
	IdentitiesOnly yes
	IdentityAgent none
	UserKnownHostsFile $SSHD_KNOWN_HOSTS
	GlobalKnownHostsFile /dev/null
	StrictHostKeyChecking yes
	BatchMode yes
	ConnectTimeout 10
EOF
chmod 600 "$D/ssh_config"
# `codex connect HOST` as `make install` sets it up: the codex-ssh wrapper named
# codex, codex-connect beside it, and the real Codex CLI found through CODEX_CLI.
mkdir -p "$D/bin"
install -m 755 "$top_srcdir/client/codex-wrapper.sh" "$D/bin/codex"
ln -s "$CONNECT" "$D/bin/codex-connect"
PATH=$D/bin:$PATH
CODEX_CLI=$CODEX_BIN
export PATH CODEX_CLI
say "Client side: an ssh_config with \"Host devbox\" (keys and known_hosts made for the"
say "demo), and \`codex connect\` as \`make install\` sets it up (the codex-ssh wrapper"
say "in front of the real Codex CLI). Every command below is run with -F $D/ssh_config."

# cc ARG...: codex-connect devbox ARG..., shown first, without a terminal, bounded
# (a real model that cannot be reached makes the app server retry for ever).
cc() {
	cmdline "codex connect devbox $*"
	setsid -w timeout -k 5 "$([ "$MODEL" = real ] && echo 40 || echo 60)" \
	    codex connect -F "$D/ssh_config" devbox "$@" </dev/null
}

# ---- a turn ---------------------------------------------------------------------------

section "A turn streamed to the terminal (codex connect devbox exec)"
say "The agent's text goes to stdout as it streams; commands and their output to stderr."
t1=$(date +%s)
cc exec --cwd "$D/work" "$P1"
rc=$?
say "${dim}(exit $rc, $(($(date +%s) - t1)) s)${off}"
if [ "$rc" != 0 ] && [ "$MODEL" = real ]; then
	say "Your login did not get an answer from here (offline, or the login expired):"
	say "switching to the local mock model."
	"$SUB" stop -f "$D/subsystem.conf" >/dev/null 2>&1
	use_mock
	write_conf
	t1=$(date +%s)
	cc exec --cwd "$D/work" "$P1"
	rc=$?
	say "${dim}(exit $rc, $(($(date +%s) - t1)) s)${off}"
fi
[ "$rc" = 0 ] || die "the turn failed (exit $rc); the subsystem's log is $D/subsystem.log"

# ---- approvals -----------------------------------------------------------------------------

section "A command approval, declined"
say "The model asks to run a command outside the read-only sandbox. codex-connect asks on"
say "the terminal; here it has none (setsid), so it declines and the model is told."
cc exec --cwd "$D/work" "$P2"
say "${dim}(exit $?)${off}"

section "A command approval, accepted with --yes"
cc exec --yes --cwd "$D/work" "$P3"
say "${dim}(exit $?)${off}"

# ---- status ------------------------------------------------------------------------------

section "Sessions on the host (codex connect devbox status)"
say "A --stdio client (what an IDE spawns) stays connected while status runs."
mkfifo "$D/hold"
setsid timeout -k 5 60 "$CONNECT" -F "$D/ssh_config" devbox --stdio <"$D/hold" >"$D/hold.out" 2>&1 &
hold_pid=$!
at_exit "kill $hold_pid 2>/dev/null"
exec 7>"$D/hold"
echo '{"id":1,"method":"initialize","params":{"clientInfo":{"name":"demo-ide","version":"1"}}}' >&7
i=0
while ! grep -q '"id":1' "$D/hold.out" 2>/dev/null && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
cc status
say "${dim}(exit $?)${off}"

if nolisten_check_user_procs codex-connect codex-subsystem codex >"$D/nolisten" 2>&1; then
	say "Checked in /proc: none of the $(echo "$NOLISTEN_FOUND" | wc -w) codex-connect, codex-subsystem and codex"
	say "processes (nor their children) holds a listening TCP or UDP socket."
else
	say "WARNING: a listening socket was found:"
	cat "$D/nolisten"
fi
exec 7>&-
wait $hold_pid 2>/dev/null

# ---- the TUI -------------------------------------------------------------------------------

section "The real Codex TUI on the remote app server"
tui_env=
[ "$MODEL" = mock ] && tui_env="CODEX_HOME=$DEMO_HOME "
say "On your own machines it is just:   codex connect devbox"
say "For this demo's host (while the demo runs), in another terminal:"
say "  ${tui_env}CODEX_CLI=$CODEX_BIN \\"
say "    $CONNECT -F $D/ssh_config devbox"
say "(\`codex-connect ... devbox --no-tui\` instead serves the app server on a private unix"
say " socket and prints the \`codex --remote unix://...\` line that attaches a TUI to it.)"
if [ -t 0 ] && [ -t 1 ] && [ "${CODEX_SSH_DEMO_TUI:-ask}" != no ]; then
	printf 'Open the TUI here now? Quit it with /quit or Ctrl-C. [y/N] '
	ans=
	read -r ans || ans=
	case $ans in
	y|Y|yes)
		# Ctrl-C belongs to the TUI (a second one must not end the demo early).
		trap '' INT
		if [ "$MODEL" = mock ]; then
			CODEX_HOME=$DEMO_HOME codex connect -F "$D/ssh_config" devbox
		else
			codex connect -F "$D/ssh_config" devbox
		fi
		trap 'exit 130' INT
		;;
	esac
fi

section "Done in $(($(date +%s) - t0)) s"
say "Stopping sshd, the session host, the app server$( [ "$MODEL" = mock ] && echo ' and the mock model'), and"
say "removing $D."
exit 0
