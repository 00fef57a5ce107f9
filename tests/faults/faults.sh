# faults.sh - what the fault tests (tests/faults/*-t.sh) share: a throw-away remote
# user behind a private sshd, and the census of our processes. POSIX sh; source it
# after tap.sh, sshd.sh and users.sh, with B (the build directory) set.
#
#   faults_user NAME               # user NAME-PID (two runs of a test at once do
#                                  # not meet), home $T/home, /bin/sh, no rc
#                                  # files; sets FU (name), FU_UID, FU_HOME
#   as_remote CMD...               # CMD as that user, with what sshd gives it
#   faults_ssh_config FILE [ALIAS PORT]...  # ssh_config: each ALIAS at PORT on
#                                  # 127.0.0.1 as FU (no connection sharing)
#   procs                          # "KIND PID CMD" for each process of ours
#   wait_clean SECONDS [SINCE_MS]  # until at most one session host is left
#                                  # (SECONDS times FAULTS_SLOW)
#   journal_left DIR               # journal files and descriptors into DIR
#   now_ms                         # the wall clock in milliseconds
#
# FAULTS_MARK (default $T/cfg) is what a codex-connect of ours has on its command
# line (its -F file). FAULTS_SLOW is 4 under valgrind (make check-valgrind sets
# CXS_VALGRIND), else 1: the tests multiply their time bounds by it.

FAULTS_FD=$top_srcdir/tests/faults/fdrive.py
FAKE=${FAKE:-$B/tests/fake-app-server}
FAULTS_SLOW=1
[ -n "${CXS_VALGRIND-}" ] && FAULTS_SLOW=4

faults_user() {
	FU=$1-$$
	FU_HOME=$T/home
	USERS_FAKE=$FAKE
	users_make "$FU" /bin/sh "$FU_HOME" || return 1
	(cd "$FU_HOME" && rm -rf .profile .bash_profile .bashrc .zshenv .zprofile .cshrc \
	    .login .config bin)
	FU_UID=$(id -u "$FU")
}

as_remote() {
	setpriv --reuid="$FU" --regid="$FU" --init-groups env -i HOME="$FU_HOME" \
	    USER="$FU" LOGNAME="$FU" PATH=/usr/bin:/bin "$@"
}

# faults_ssh_config FILE [ALIAS PORT]...: the known_hosts is $SSHD_DIR's key at
# every PORT. ControlPath none: each codex-connect has its own connection, so
# killing it kills the client (the connection master's death is share-t.sh's).
faults_ssh_config() {
	_fc=$1
	shift
	: >"$_fc"
	_ports=
	while [ $# -ge 2 ]; do
		printf 'Host %s\n\tPort %s\n' "$1" "$2" >>"$_fc"
		_ports="$_ports $2"
		shift 2
	done
	sshd_known_hosts "$_fc.known_hosts" $_ports
	cat >>"$_fc" <<EOF
Host *
	HostName 127.0.0.1
	User $FU
	IdentityFile $SSHD_CLIENT_KEY
	IdentitiesOnly yes
	IdentityAgent none
	PreferredAuthentications publickey
	UserKnownHostsFile $_fc.known_hosts
	GlobalKnownHostsFile /dev/null
	StrictHostKeyChecking yes
	BatchMode yes
	ConnectTimeout 10
	ControlPath none
EOF
	chmod 600 "$_fc"
}

procs() {
	python3 "$FAULTS_FD" procs --uid "$FU_UID" --fake "$FAKE" \
	    --client-mark "${FAULTS_MARK:-$T/cfg}"
}

now_ms() {
	echo $(($(date +%s%N) / 1000000))
}

# wait_clean SECONDS [SINCE_MS]: waits until nothing of ours runs but at most one
# session host; sets LEFT (what still ran at the end) and WAITED (seconds from
# SINCE_MS, default now, to the end of the wait).
wait_clean() {
	_since=${2:-$(now_ms)}
	_end=$(($(now_ms) + $1 * 1000 * FAULTS_SLOW))
	while :; do
		LEFT=$(procs | awk '$1 != "host" { print } $1 == "host" { h++; l = $0 }
		    END { if (h > 1) print "hosts " h ": " l }')
		[ -z "$LEFT" ] && break
		[ "$(now_ms)" -ge "$_end" ] && break
		sleep 0.1
	done
	WAITED=$(awk -v a="$_since" -v b="$(now_ms)" 'BEGIN { printf "%.1f", (b - a) / 1000 }')
	[ -z "$LEFT" ]
}

journal_left() {
	python3 "$FAULTS_FD" journal --dir "$1" --uid "$FU_UID"
}
