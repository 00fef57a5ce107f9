# shellcheck shell=sh
# doctor.sh - the remote half of `codex-connect HOST doctor`. Embedded into
# codex-connect and sent the way remote.sh is (see there): run by /bin/sh as
#     exec /bin/sh -c 'THIS SCRIPT' cxs-doctor TAG VERSION
# It changes nothing. Each finding is one line "@@TAG@@ CHECK NAME STATUS DETAIL",
# STATUS ok, warn or fail; "@@TAG@@ DONE" ends it.

tag=$1
version=$2
PATH=/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin${PATH:+:$PATH}
export PATH

say() {
	printf '\n@@%s@@ %s\n' "$tag" "$*"
}
check() {
	say CHECK "$@"
}

if [ -n "${SSH_ORIGINAL_COMMAND:-}" ]; then
	check forcecommand fail "a ForceCommand or a command= in authorized_keys runs instead of the requested command"
else
	check forcecommand ok "none in effect"
fi

shell=${SHELL:-/bin/sh}
check shell ok "$shell"

# Output of a non-interactive shell: sshd runs subsystems and commands this way.
n=$("$shell" -c true </dev/null 2>/dev/null | wc -c | tr -d ' ')
if [ "${n:-0}" -gt 0 ]; then
	check rcfiles warn "rc files print $n bytes on non-interactive shells (codex-ssh copes; scp and rsync do not)"
else
	check rcfiles ok "rc files print nothing on non-interactive shells"
fi

# A Backend app-server line naming a path (ours or the admin's) is what runs.
conf_codex=
for f in /etc/codex-ssh/subsystem.conf "$HOME/.codex/ssh/subsystem.conf"; do
	[ -r "$f" ] || continue
	line=$(grep -i '^[[:space:]]*Backend[[:space:]][[:space:]]*app-server[[:space:]]' "$f" | tail -n 1)
	[ -n "$line" ] && conf_codex=$(printf '%s\n' "$line" | awk '{ print $3 }')
done
case $conf_codex in
/*)
	if [ -x "$conf_codex" ]; then
		check codex ok "$conf_codex (Backend app-server in subsystem.conf)"
	else
		check codex fail "$conf_codex, named by Backend app-server in subsystem.conf, is not an executable file"
	fi
	conf_codex=checked
	;;
esac

# codex on the login PATH (what codex-subsystem uses), else on an interactive one.
# (csh takes -l only alone, so its login file is read by hand.)
[ "$conf_codex" = checked ] || case ${shell##*/} in
*csh)
	login_cmd='which codex'
	found=$("$shell" -c 'if ( -r ~/.login ) source ~/.login >& /dev/null; which codex' \
	    </dev/null 2>/dev/null | tail -n 1)
	;;
*)
	login_cmd='command -v codex'
	found=$("$shell" -l -c "$login_cmd" </dev/null 2>/dev/null | tail -n 1)
	;;
esac
[ "$conf_codex" = checked ] || case $found in
/*)
	v=$("$found" --version 2>/dev/null | head -n 1)
	check codex ok "$found ${v:-(version unknown)}"
	;;
*)
	inter=$("$shell" -i -c "$login_cmd" </dev/null 2>/dev/null | tail -n 1)
	case $inter in
	/*) check codex fail "codex is only on an interactive PATH ($inter): set Backend app-server $inter app-server in ~/.codex/ssh/subsystem.conf" ;;
	*) check codex fail "codex is not on the login PATH: install the Codex CLI (npm install -g @openai/codex) or name it in ~/.codex/ssh/subsystem.conf" ;;
	esac
	;;
esac

# codex-subsystem: the one the bootstrap would run, and its version.
sub=
for c in "$HOME/.codex/ssh/bin/$version/codex-subsystem" /usr/local/libexec/codex-subsystem \
    /usr/libexec/codex-subsystem "$(command -v codex-subsystem 2>/dev/null)"; do
	[ -n "$c" ] && [ -x "$c" ] && { sub=$c; break; }
done
if [ -z "$sub" ]; then
	check subsystem_version ok "none for the exec fallback yet; the first connect through it uploads $version"
else
	sv=$("$sub" --version 2>/dev/null)
	if [ "$sv" = "codex-subsystem $version" ]; then
		check subsystem_version ok "$sub: $version"
	else
		check subsystem_version warn "$sub is ${sv:-unknown}, this client is $version (the bootstrap installs $version beside it)"
	fi
fi

# The session host: its runtime directory and sockets.
uid=$(id -u 2>/dev/null)
rundir=/tmp/codex-ssh-$uid
if [ -n "${XDG_RUNTIME_DIR:-}" ] && [ -d "$XDG_RUNTIME_DIR" ]; then
	rundir=$XDG_RUNTIME_DIR/codex-ssh
fi
if [ ! -e "$rundir" ]; then
	check host ok "no session host running ($rundir does not exist yet)"
else
	perm=$(ls -ld "$rundir" 2>/dev/null)
	case $perm in
	drwx------*)
		socks=0
		for f in "$rundir"/host-*.sock; do
			[ -S "$f" ] && socks=$((socks + 1))
		done
		check host ok "$socks session host socket(s) in $rundir (0700)"
		;;
	*) check host fail "$rundir is not a private directory ($perm): remove it" ;;
	esac
fi

# Room for the journal (1 GiB by default) in the home directory.
avail=$(df -Pk "$HOME" 2>/dev/null | awk 'NR == 2 { print $4 }')
case $avail in
''|*[!0-9]*) check space warn "cannot tell the free space in $HOME" ;;
*)
	mb=$((avail / 1024))
	if [ "$mb" -lt 100 ]; then
		check space fail "$mb MiB free in $HOME: journals and the upload need room"
	elif [ "$mb" -lt 1024 ]; then
		check space warn "$mb MiB free in $HOME (JournalDisk defaults to 1 GiB)"
	else
		check space ok "$mb MiB free in $HOME"
	fi
	;;
esac
say DONE
