#!/bin/sh
# login-shell-t.sh - backends start with the user's login environment whatever the
# login shell (bash, dash, zsh, fish, tcsh), even when its rc files print text:
# `codex` is only on the PATH that the login files set up.
. "$top_srcdir/tests/lib/tap.sh"

B=$top_builddir
SUB=$B/subsystem/codex-subsystem
tap_tmpdir T

cat >"$T/conf" <<CONF
LoginShell yes
RuntimeDir $T/run
JournalDir $T/journal
LogFile $T/log
SetEnv CXS_TEST_SETENV=yes
CONF

INIT='{"id":1,"method":"initialize","params":{"clientInfo":{"name":"t","version":"1"}}}'

# mkhome SHELLNAME: a home whose login files put ~/bin (with `codex`) on PATH and chatter.
mkhome() {
	h=$T/home-$1
	mkdir -p "$h/bin" "$h/.config/fish"
	ln -sf "$B/tests/fake-app-server" "$h/bin/codex"
	noise='echo "Welcome to devbox! {not json} $(date)"'
	printf '%s\nexport PATH="$HOME/bin:$PATH"\n' "$noise" >"$h/.profile"
	printf '%s\nexport PATH="$HOME/bin:$PATH"\n' "$noise" >"$h/.bash_profile"
	printf 'echo "bashrc says hi"\n' >"$h/.bashrc"
	printf 'echo "zshenv chatter"\n' >"$h/.zshenv"
	printf '%s\nexport PATH="$HOME/bin:$PATH"\n' "$noise" >"$h/.zprofile"
	printf 'echo "fish greeting"\nset -gx PATH $HOME/bin $PATH\n' >"$h/.config/fish/config.fish"
	printf 'echo "cshrc noise"\n' >"$h/.cshrc"
	printf 'echo "login noise"\nsetenv PATH $HOME/bin:$PATH\n' >"$h/.login"
}

plan_lazy
for sh in /bin/bash /bin/dash /usr/bin/zsh /usr/bin/fish /usr/bin/tcsh; do
	name=${sh##*/}
	if [ ! -x "$sh" ]; then
		skip "$name is not installed" 2
		continue
	fi
	mkhome "$name"
	out=$( (echo "$INIT"; sleep 1) | env -i HOME="$T/home-$name" SHELL="$sh" \
	    PATH=/usr/bin:/bin USER=root LOGNAME=root timeout 30 "$SUB" -f "$T/conf" 2>"$T/err")
	like "$out" '^\{"id":1,"result":\{"userAgent":"fake-app-server' \
	    "$name login shell: \`codex app-server\` found on the login PATH"
	is "$(printf '%s\n' "$out" | grep -vc '^{')" 0 "$name: rc-file chatter never reaches the channel"
done

# Without the login shell the same PATH has no codex: a clear error, not a hang.
sed 's/^LoginShell yes/LoginShell no/' "$T/conf" >"$T/conf-nologin"
out=$( (echo "$INIT"; sleep 1) | env -i HOME="$T/home-bash" SHELL=/bin/bash PATH=/usr/bin:/bin \
    timeout 30 "$SUB" -f "$T/conf-nologin" 2>"$T/err")
like "$out" '"message":"backend app-server failed: `codex app-server` exited with status 127: .*codex.*not found' \
    "LoginShell no: codex off PATH is reported with what was run"
done_testing
