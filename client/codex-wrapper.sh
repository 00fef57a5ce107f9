#!/bin/sh
# codex - codex-ssh wrapper: `codex connect HOST [options]` runs codex-connect;
# every other use is handed, unchanged, to the real Codex CLI: $CODEX_CLI, or the
# next `codex` on PATH that is not this script.
# (The words "codex-ssh wrapper" above let codex-connect recognise this file.)

# CODEX_CONNECT_WRAPPER tells codex-connect to name `codex connect` in the hints it
# prints (`... resume ID` after the TUI); it does not pass it on to the TUI.
if [ "${1-}" = connect ]; then
	shift
	CODEX_CONNECT_WRAPPER=1
	export CODEX_CONNECT_WRAPPER
	exec codex-connect "$@"
fi

self=$0
case $self in
*/*) ;;
*) self=$(command -v -- "$self" 2>/dev/null || echo "$self") ;;
esac
self_real=$(readlink -f -- "$self" 2>/dev/null || echo "$self")

if [ -n "${CODEX_CLI-}" ]; then
	exec "$CODEX_CLI" "$@"
fi

IFS_save=$IFS
IFS=:
for dir in $PATH; do
	IFS=$IFS_save
	[ -n "$dir" ] || dir=.
	cand=$dir/codex
	[ -x "$cand" ] && [ ! -d "$cand" ] || continue
	cand_real=$(readlink -f -- "$cand" 2>/dev/null || echo "$cand")
	[ "$cand_real" = "$self_real" ] && continue
	if head -c 400 -- "$cand" 2>/dev/null | grep -q 'codex-ssh wrapper'; then
		continue
	fi
	exec "$cand" "$@"
done
IFS=$IFS_save

echo "codex: the Codex CLI was not found on PATH (set CODEX_CLI, or install it:" \
	"npm install -g @openai/codex); 'codex connect HOST' works without it" >&2
exit 127
