# users.sh - throw-away Unix users for tests that need a remote account of their
# own (the bootstrap, doctor). POSIX sh; source it after tap.sh or atexit.sh. Needs
# root; every user made is removed on exit together with all its processes.
#
#   users_available || skip_all "$USERS_WHY"
#   users_make USER SHELL HOME    # user USER with home HOME (0755), `codex`
#                                 # ($USERS_FAKE) in ~/bin on the login PATH only,
#                                 # rc files of every shell that print text
#
# USERS_FAKE must name the program linked as ~/bin/codex.

. "$top_srcdir/tests/lib/atexit.sh"
_users_made=

users_available() {
	USERS_WHY=
	if [ "$(id -u)" != 0 ]; then
		USERS_WHY="needs root to create throw-away users"
	elif ! command -v useradd >/dev/null 2>&1; then
		USERS_WHY="useradd not installed"
	fi
	[ -z "$USERS_WHY" ]
}

# _users_retry CMD...: CMD until it succeeds, while it fails for a lock held
# elsewhere (exit 10 from useradd/usermod, or "cannot lock" said), 10 s at most.
_users_retry() {
	_ur_i=0
	while :; do
		_ur_out=$("$@" 2>&1) && return 0
		_ur_rc=$?
		case $_ur_rc:$_ur_out in
		10:*|*:*lock*) ;;
		*) return "$_ur_rc" ;;
		esac
		_ur_i=$((_ur_i + 1))
		[ "$_ur_i" -lt 50 ] || return "$_ur_rc"
		sleep 0.2
	done
}

_users_cleanup() {
	for _u in $_users_made; do
		pkill -KILL -u "$_u" >/dev/null 2>&1
		_users_retry userdel "$_u" >/dev/null 2>&1
	done
}

users_make() {
	_u=$1
	_h=$3
	if [ -z "$_users_made" ]; then
		at_exit _users_cleanup
	fi
	# useradd, usermod and userdel lock /etc/passwd and give up at once when a
	# test running beside this one holds it: try again for up to 10 s.
	_users_retry userdel "$_u"
	_users_retry useradd -M -d "$_h" -s "$2" "$_u" || return 1
	_users_retry usermod -p '*' "$_u"
	_users_made="$_users_made $_u"
	mkdir -p "$_h/bin" "$_h/.config/fish"
	ln -sf "$USERS_FAKE" "$_h/bin/codex"
	_noise='echo "Welcome to devbox! {not json}"'
	printf '%s\nexport PATH="$HOME/bin:$PATH"\n' "$_noise" >"$_h/.profile"
	printf '%s\nexport PATH="$HOME/bin:$PATH"\n' "$_noise" >"$_h/.bash_profile"
	printf 'echo "bashrc says hi"\n' >"$_h/.bashrc"
	printf 'echo "zshenv chatter"\n' >"$_h/.zshenv"
	printf '%s\nexport PATH="$HOME/bin:$PATH"\n' "$_noise" >"$_h/.zprofile"
	printf 'echo "fish greeting"\nset -gx PATH $HOME/bin $PATH\n' >"$_h/.config/fish/config.fish"
	printf 'echo "cshrc noise"\n' >"$_h/.cshrc"
	printf 'echo "login noise"\nsetenv PATH $HOME/bin:$PATH\n' >"$_h/.login"
	chown -R "$_u" "$_h"
	chmod 755 "$_h"
}
