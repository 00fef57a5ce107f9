#!/bin/sh
# wrapper-t.sh - `codex connect HOST` and the codex wrapper: `connect` goes to
# codex-connect, everything else unchanged to the real Codex CLI further along
# PATH (or $CODEX_CLI); and an unknown host key answered "yes" on a terminal.
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/sshd.sh"

B=$top_builddir
WRAP=$top_srcdir/client/codex-wrapper.sh
TTY=$top_srcdir/tests/client/tty.py
tap_tmpdir T

# PATH: our wrapper first, then a stand-in for the real Codex CLI.
mkdir -p "$T/ours" "$T/theirs" "$T/cc"
cp "$WRAP" "$T/ours/codex"; chmod 755 "$T/ours/codex"
cat >"$T/theirs/codex" <<'SH'
#!/bin/sh
echo "real codex got: $*"
SH
chmod 755 "$T/theirs/codex"
cat >"$T/cc/codex-connect" <<'SH'
#!/bin/sh
echo "codex-connect got: $*"
SH
chmod 755 "$T/cc/codex-connect"
P=$T/ours:$T/cc:$T/theirs:/usr/bin:/bin

plan_lazy
is "$(PATH=$P codex connect devbox --stdio)" "codex-connect got: devbox --stdio" \
    "codex connect HOST ... runs codex-connect HOST ..."
is "$(PATH=$P codex exec --json 'a b')" "real codex got: exec --json a b" \
    "other subcommands reach the real Codex CLI unchanged"
is "$(PATH=$P codex --remote unix:///x)" "real codex got: --remote unix:///x" \
    "so does codex --remote (what codex-connect runs for the TUI)"
is "$(PATH=$P CODEX_CLI=$T/theirs/codex codex app-server)" "real codex got: app-server" \
    "\$CODEX_CLI names the real CLI"
out=$(PATH=$T/ours:/usr/bin:/bin codex --version 2>&1); rc=$?
is "$rc" 127 "without a real Codex CLI: exit 127"
like "$out" 'Codex CLI was not found' "with a message that says so"
ln -s "$T/ours/codex" "$T/cc/codex"
is "$(PATH=$T/cc:$P codex --help)" "real codex got: --help" \
    "a second copy of the wrapper on PATH is skipped, not looped into"

# make install must not replace someone else's codex.
mkdir -p "$T/prefix/bin"
cp "$T/theirs/codex" "$T/prefix/bin/codex"
make -s -C "$B" install-exec-hook bindir="$T/prefix/bin" >"$T/inst" 2>&1
like "$(cat "$T/prefix/bin/codex")" 'real codex got' "make install keeps an existing codex"
like "$(cat "$T/inst")" 'not replacing it' "and says so"
rm "$T/prefix/bin/codex"
make -s -C "$B" install-exec-hook bindir="$T/prefix/bin" >"$T/inst" 2>&1
like "$(cat "$T/prefix/bin/codex")" 'codex-ssh wrapper' "otherwise it installs the wrapper"

# `sudo codex-subsystem register` finds it: a link on sudo's PATH (sbin).
make -s -C "$B" install DESTDIR="$T/dest" >"$T/inst" 2>&1
lnk=$(find "$T/dest" -path '*/sbin/codex-subsystem')
like "$(readlink "$lnk")" '/libexec/codex-subsystem$' "make install links sbin/codex-subsystem to libexec"
ok "$([ -x "$T/dest$(readlink "$lnk")" ]; echo $?)" "  and the program is there"
make -s -C "$B" uninstall DESTDIR="$T/dest" >"$T/inst" 2>&1
ok "$([ ! -e "$lnk" ] && [ ! -L "$lnk" ]; echo $?)" "make uninstall removes the link"

# Unknown host key on a terminal: the fingerprint is shown and "yes" accepts it.
if sshd_available && command -v python3 >/dev/null 2>&1; then
	cat >"$T/conf" <<CONF
Backend fake $B/tests/fake-app-server
DefaultBackend fake
LoginShell no
RuntimeDir $T/run-%i
JournalDir $T/journal-%i
LogFile $T/log-%i
CONF
	sshd_start "$T/sshd" "Subsystem codex $B/subsystem/codex-subsystem -f $T/conf" || bail "sshd"
	# BatchMode in ssh_config forbids the question, as in ssh(1).
	sed "s|UserKnownHostsFile .*|UserKnownHostsFile $T/kh|; s|StrictHostKeyChecking .*|StrictHostKeyChecking ask|; s|BatchMode .*|BatchMode no|" \
	    "$SSH_CONFIG" >"$T/cfg"
	: >"$T/kh"
	fp=$(ssh-keygen -lf "$SSHD_DIR"/host_ed25519.pub 2>/dev/null | awk '{print $2}')
	like "$fp" "^SHA256:" "(the host key fingerprint is known: $fp)"
	out=$(python3 "$TTY" --timeout 30 --answer 'continue connecting.*\?=yes' -- \
	    "$B/client/codex-connect" -F "$T/cfg" testhost status 2>&1)
	printf '%s\n' "$out" | grep -qF "$fp"
	ok $? "an unknown host key is shown with its SHA256 fingerprint"
	like "$out" 'testhost: (session hosts|no session host is running)' "answering yes connects"
	grep -q "ssh-ed25519" "$T/kh"
	ok $? "and the key is added to known_hosts"
	out=$(python3 "$TTY" --timeout 30 --answer 'continue connecting.*\?=no' -- \
	    "$B/client/codex-connect" -F "$T/cfg" -o UserKnownHostsFile="$T/kh2" testhost status 2>&1); rc=$?
	isnt "$rc" 0 "answering no refuses"
	sshd_stop
else
	skip "sshd or python3 missing" 5
fi
done_testing
