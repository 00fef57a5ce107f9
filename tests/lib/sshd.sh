# sshd.sh - a private OpenSSH sshd on 127.0.0.1 for the end-to-end tests, run as
# root or as an ordinary user. POSIX sh; source it (after tap.sh if you use both).
#
#   sshd_available || skip_all "$SSHD_WHY"
#   sshd_start "$tmp/sshd" "Subsystem codex $top_builddir/subsystem/codex-subsystem"
#   sshd_run true                     # ssh -F "$SSH_CONFIG" testhost true
#   echo hi | sshd_ssh -s testhost codex
#   sshd_stop                         # also done on exit
#   sshd_crash; sshd_relaunch         # every sshd process SIGKILLed (what they ran
#                                     # is left); the same sshd again, same port
#
# sshd_start DIR [LINE...] creates DIR with an ed25519 host key, an unencrypted
# client key (DIR/id_ed25519) authorised for the current user, DIR/sshd_config and
# DIR/ssh_config, picks a free port (retrying up to 5 times if the bind fails) and
# waits until sshd listens. Each LINE is one sshd_config line. sshd takes the first
# value it reads for most keywords, so LINEs before the first "Match" go at the top
# of the file (overriding the defaults here) and the rest at the bottom.
#
# After it, these are exported: SSHD_DIR, SSHD_PORT, SSHD_PID (the listener),
# SSHD_LOG (DIR/sshd.log), SSH_CONFIG (DIR/ssh_config, host alias "testhost"),
# SSH_HOST (testhost), SSHD_USER, SSHD_CLIENT_KEY, SSHD_KNOWN_HOSTS.
#
# Time bounds: sshd waits at most SSHD_START_TIMEOUT (10) seconds to listen and
# lives at most SSHD_LIFETIME (1800) seconds even if nobody stops it; sshd_ssh gives
# up after SSHD_SSH_TIMEOUT (60) seconds. SSHD (default /usr/sbin/sshd) names the
# binary. Everything sshd logs is in $SSHD_LOG; sshd_log_tail shows its end.

# ---- exit hooks: tests/lib/atexit.sh ------------------------------------------
. "$top_srcdir/tests/lib/atexit.sh"

: "${SSHD:=/usr/sbin/sshd}"
SSH_HOST=testhost
_sshd_hooked=

_sshd_say() {
	echo "sshd.sh: $*" >&2
}

# sshd_available: succeeds when sshd, ssh and ssh-keygen are usable; otherwise
# sets SSHD_WHY to a reason fit for skip_all.
sshd_available() {
	SSHD_WHY=
	if [ ! -x "$SSHD" ]; then
		SSHD_WHY="sshd not installed ($SSHD)"
	elif ! command -v ssh >/dev/null 2>&1; then
		SSHD_WHY="ssh client not installed"
	elif ! command -v ssh-keygen >/dev/null 2>&1; then
		SSHD_WHY="ssh-keygen not installed"
	elif ! command -v timeout >/dev/null 2>&1; then
		SSHD_WHY="timeout(1) not installed"
	fi
	[ -z "$SSHD_WHY" ]
}

# A port in 20000..59999 that nothing listens on right now (the bind may still
# lose a race; sshd_start retries).
_sshd_pick_port() {
	while :; do
		_p=$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')
		_p=$((20000 + _p % 40000))
		_hex=$(printf '%04X' "$_p")
		if ! awk -v h=":$_hex" 'NR > 1 && $4 == "0A" &&
		    substr($2, length($2) - 4) == h { f = 1 } END { exit !f }' \
		    /proc/net/tcp /proc/net/tcp6 2>/dev/null; then
			echo "$_p"
			return 0
		fi
	done
}

# Whether PID runs (a zombie does not: dash reaps background jobs only on wait).
_sshd_alive() {
	[ -r "/proc/$1/stat" ] || return 1
	case $(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) in
	Z*|X*|"") return 1 ;;
	esac
	return 0
}

# sshd_log_tail [N]: the last N (20) lines of the log, as "# " lines on stdout.
sshd_log_tail() {
	[ -n "${SSHD_LOG:-}" ] && [ -f "$SSHD_LOG" ] || return 0
	tail -n "${1:-20}" "$SSHD_LOG" | sed 's/^/# sshd: /'
}

_sshd_write_configs() {
	_d=$1
	_port=$2
	shift 2
	{
		echo "# written by tests/lib/sshd.sh"
		# Extra lines before the first Match come first: they win.
		_in_match=0
		for _l in "$@"; do
			case $_l in
			[Mm]atch\ *|[Mm]atch\	*) _in_match=1 ;;
			esac
			[ "$_in_match" = 0 ] && printf '%s\n' "$_l"
		done
		cat <<EOF
ListenAddress 127.0.0.1
Port $_port
HostKey $_d/host_ed25519
PidFile $_d/sshd.pid
AuthorizedKeysFile $_d/authorized_keys
StrictModes no
UsePAM no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
KexAlgorithms curve25519-sha256,curve25519-sha256@libssh.org
LogLevel VERBOSE
UseDNS no
PrintMotd no
PrintLastLog no
X11Forwarding no
MaxStartups 100
MaxSessions 50
EOF
		_in_match=0
		for _l in "$@"; do
			case $_l in
			[Mm]atch\ *|[Mm]atch\	*) _in_match=1 ;;
			esac
			[ "$_in_match" = 1 ] && printf '%s\n' "$_l"
		done
	} >"$_d/sshd_config"

	printf '[127.0.0.1]:%s %s\n' "$_port" \
	    "$(cut -d' ' -f1,2 "$_d/host_ed25519.pub")" >"$_d/known_hosts"

	cat >"$_d/ssh_config" <<EOF
# written by tests/lib/sshd.sh
Host testhost
	HostName 127.0.0.1
	Port $_port
	User $SSHD_USER
	IdentityFile $_d/id_ed25519
	IdentitiesOnly yes
	IdentityAgent none
	PreferredAuthentications publickey
	UserKnownHostsFile $_d/known_hosts
	GlobalKnownHostsFile /dev/null
	StrictHostKeyChecking yes
	UpdateHostKeys no
	BatchMode yes
	LogLevel ERROR
	KexAlgorithms curve25519-sha256
	ControlMaster no
	ControlPath none
	ForwardAgent no
	ForwardX11 no
	ConnectTimeout 10
EOF
	chmod 600 "$_d/ssh_config" "$_d/sshd_config"
}

# Starts sshd on the port of DIR's config and waits until it listens. Returns 0,
# 2 when the port was taken (try another), 1 on any other failure.
_sshd_launch() {
	_d=$1
	_port=$2
	: >"$_d/sshd.log"
	rm -f "$_d/sshd.pid"
	# timeout(1) bounds the life of an sshd whose test died without cleanup.
	timeout -s TERM "${SSHD_LIFETIME:-1800}" "$SSHD" -D -f "$_d/sshd_config" \
	    -E "$_d/sshd.log" </dev/null >/dev/null 2>>"$_d/sshd.log" &
	_w=$!
	echo "$_w" >"$_d/wrapper.pid"
	_deadline=$(($(date +%s) + ${SSHD_START_TIMEOUT:-10}))
	while :; do
		if grep -q "Server listening on 127.0.0.1 port $_port" \
		    "$_d/sshd.log" 2>/dev/null && [ -s "$_d/sshd.pid" ]; then
			return 0
		fi
		if ! _sshd_alive "$_w"; then
			wait "$_w" 2>/dev/null
			if grep -qE "Address already in use|Cannot bind any address" \
			    "$_d/sshd.log"; then
				return 2
			fi
			return 1
		fi
		if [ "$(date +%s)" -ge "$_deadline" ]; then
			_sshd_say "sshd did not start listening in ${SSHD_START_TIMEOUT:-10}s"
			_sshd_kill_tree "$_w"
			return 1
		fi
		sleep 0.05
	done
}

# sshd_start DIR [LINE...]
sshd_start() {
	SSHD_DIR=$1
	shift
	sshd_available || { _sshd_say "$SSHD_WHY"; return 1; }
	SSHD_USER=$(id -un)
	mkdir -p "$SSHD_DIR" && chmod 700 "$SSHD_DIR" || return 1
	SSHD_DIR=$(cd "$SSHD_DIR" && pwd)
	if [ "$(id -u)" = 0 ]; then
		# sshd's privilege separation needs its empty chroot directory.
		mkdir -p /run/sshd && chmod 755 /run/sshd
	fi
	if [ ! -f "$SSHD_DIR/host_ed25519" ]; then
		ssh-keygen -q -t ed25519 -N '' -C "codex-ssh test host" \
		    -f "$SSHD_DIR/host_ed25519" </dev/null || return 1
	fi
	if [ ! -f "$SSHD_DIR/id_ed25519" ]; then
		ssh-keygen -q -t ed25519 -N '' -C "codex-ssh test client" \
		    -f "$SSHD_DIR/id_ed25519" </dev/null || return 1
	fi
	cp "$SSHD_DIR/id_ed25519.pub" "$SSHD_DIR/authorized_keys"
	chmod 600 "$SSHD_DIR/authorized_keys"

	_tries=0
	while :; do
		_tries=$((_tries + 1))
		SSHD_PORT=$(_sshd_pick_port)
		_sshd_write_configs "$SSHD_DIR" "$SSHD_PORT" "$@"
		_sshd_launch "$SSHD_DIR" "$SSHD_PORT"
		_st=$?
		[ "$_st" = 0 ] && break
		if [ "$_st" = 2 ] && [ "$_tries" -lt 5 ]; then
			continue
		fi
		_sshd_say "sshd failed to start (config $SSHD_DIR/sshd_config):"
		tail -n 20 "$SSHD_DIR/sshd.log" | sed 's/^/sshd.sh:   /' >&2
		return 1
	done

	SSHD_PID=$(cat "$SSHD_DIR/sshd.pid")
	SSHD_LOG=$SSHD_DIR/sshd.log
	SSH_CONFIG=$SSHD_DIR/ssh_config
	SSHD_CLIENT_KEY=$SSHD_DIR/id_ed25519
	SSHD_KNOWN_HOSTS=$SSHD_DIR/known_hosts
	export SSHD_DIR SSHD_PORT SSHD_PID SSHD_LOG SSH_CONFIG SSH_HOST SSHD_USER \
	    SSHD_CLIENT_KEY SSHD_KNOWN_HOSTS
	at_exit "sshd_stop '$SSHD_DIR'"
	return 0
}

# The pids of PID's descendants, children before grandchildren.
_sshd_descendants() {
	ps -e -o pid= -o ppid= 2>/dev/null | awk -v root="$1" '
	{ kids[$2] = kids[$2] " " $1 }
	END {
		n = split(kids[root], q, " ")
		for (i = 1; i <= n; i++) {
			print q[i]
			m = split(kids[q[i]], more, " ")
			for (j = 1; j <= m; j++)
				q[++n] = more[j]
		}
	}'
}

# Sends TERM to PID and its descendants (sshd forks a setsid()'d process per
# connection, so a process group kill would miss them), then KILL after 5 s.
_sshd_kill_tree() {
	_pids="$1 $(_sshd_descendants "$1")"
	kill -TERM $_pids 2>/dev/null
	_n=0
	while [ "$_n" -lt 100 ]; do
		_alive=
		for _p in $_pids; do
			_sshd_alive "$_p" && _alive="$_alive $_p"
		done
		[ -z "$_alive" ] && break
		sleep 0.05
		_n=$((_n + 1))
	done
	[ -n "$_alive" ] && kill -KILL $_alive 2>/dev/null
	wait "$1" 2>/dev/null
	return 0
}

# sshd_stop [DIR]: stops the sshd of DIR (default: the last started) together
# with its sessions and the programs they run, and waits for it.
sshd_stop() {
	_d=${1:-${SSHD_DIR:-}}
	[ -n "$_d" ] && [ -f "$_d/wrapper.pid" ] || return 0
	_w=$(cat "$_d/wrapper.pid")
	rm -f "$_d/wrapper.pid"
	_sshd_kill_tree "$_w"
	return 0
}

# sshd_ssh ARG...: ssh -F "$SSH_CONFIG" ARG... (name testhost yourself), bounded
# by SSHD_SSH_TIMEOUT seconds.
sshd_ssh() {
	timeout -k 5 "${SSHD_SSH_TIMEOUT:-60}" ssh -F "$SSH_CONFIG" "$@"
}

# sshd_run CMD...: runs CMD on testhost.
sshd_run() {
	sshd_ssh testhost "$@"
}

# sshd_subsystem NAME: opens subsystem NAME on testhost (stdin/stdout relayed).
sshd_subsystem() {
	sshd_ssh -s testhost "$1"
}

# relay_start DIR [LIFETIME]: starts tests/client/relay.py, a TCP hop on 127.0.0.1
# in front of this sshd that a test can cut (see its header), with its files in
# DIR (relay.port, relay.ctl, relay.log); stopped on exit. Exports RELAY_PID,
# RELAY_PORT and RELAY_DIR; returns 1 if it did not come up within 10 s.
relay_start() {
	_rd=$1
	python3 "$top_srcdir/tests/client/relay.py" --target "$SSHD_PORT" \
	    --port-file "$_rd/relay.port" --ctl "$_rd/relay.ctl" \
	    --log "$_rd/relay.log" --lifetime "${2:-300}" </dev/null &
	RELAY_PID=$!
	at_exit "kill $RELAY_PID 2>/dev/null"
	_ri=0
	while [ ! -s "$_rd/relay.port" ] && [ $_ri -lt 200 ]; do
		sleep 0.05
		_ri=$((_ri + 1))
	done
	RELAY_PORT=$(cat "$_rd/relay.port" 2>/dev/null)
	RELAY_DIR=$_rd
	export RELAY_PID RELAY_PORT RELAY_DIR
	[ -n "$RELAY_PORT" ]
}

# relay_cmd WORDS...: makes the relay of relay_start obey WORDS (see relay.py) and
# waits (at most 5 s) for its ack.
relay_cmd() {
	_rn=$(($(grep -c '^ack ' "$RELAY_DIR/relay.log") + 1))
	echo "$*" >"$RELAY_DIR/relay.ctl"
	kill -USR1 "$RELAY_PID"
	_ri=0
	while ! grep -q "^ack $_rn " "$RELAY_DIR/relay.log" && [ $_ri -lt 100 ]; do
		sleep 0.05
		_ri=$((_ri + 1))
	done
}

# sshd_crash: SIGKILLs every sshd process of the last sshd started (the listener
# and each connection's), as a crash would; what they ran is left running.
sshd_crash() {
	_w=$(cat "$SSHD_DIR/wrapper.pid")
	_pids=$(for _p in $_w $(_sshd_descendants "$_w"); do
		[ "$(cat "/proc/$_p/comm" 2>/dev/null)" = sshd ] && echo "$_p"
	done)
	kill -KILL $_pids 2>/dev/null
	_n=0
	while [ "$_n" -lt 100 ]; do
		_alive=
		for _p in $_pids; do
			_sshd_alive "$_p" && _alive=1
		done
		[ -z "$_alive" ] && break
		sleep 0.05
		_n=$((_n + 1))
	done
	wait "$_w" 2>/dev/null
	rm -f "$SSHD_DIR/wrapper.pid"
}

# sshd_relaunch: starts the last sshd again after sshd_crash or sshd_stop: the same
# config, port and host key. Returns 1 if it does not listen again.
sshd_relaunch() {
	_sshd_launch "$SSHD_DIR" "$SSHD_PORT" || return 1
	SSHD_PID=$(cat "$SSHD_DIR/sshd.pid")
}

# sshd_known_hosts FILE PORT...: writes a known_hosts trusting this sshd's host
# key on 127.0.0.1 at each PORT (the sshd's own, a relay's).
sshd_known_hosts() {
	_kf=$1
	shift
	_hk=$(cut -d' ' -f1,2 "$SSHD_DIR/host_ed25519.pub")
	: >"$_kf"
	for _kp in "$@"; do
		echo "[127.0.0.1]:$_kp $_hk" >>"$_kf"
	done
}
