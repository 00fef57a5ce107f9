# nolisten.sh - checks that processes hold no listening TCP socket and no bound UDP
# socket (the project's rule: no network listener, ever). POSIX sh, Linux /proc.
#
#   nolisten_check [-c] PID...        # -c: also every descendant of each PID
#   nolisten_check_user_procs NAME... # the current user's processes named NAME,
#                                     # with their descendants
#
# Both succeed when nothing listens, and otherwise print one line per offending
# socket ("nolisten: pid 123 (python3) tcp LISTEN 127.0.0.1:8000") and fail. A
# process that has gone away is not an error; one whose fds cannot be read is (the
# check could not be made). After nolisten_check_user_procs, NOLISTEN_FOUND holds the
# pids that were checked (empty when no such process ran).
#
# How: each socket fd in /proc/PID/fd links to "socket:[INODE]"; the inode is
# looked up in /proc/PID/net/{tcp,tcp6,udp,udp6} (the tables of the process's own
# network namespace). TCP state 0A is LISTEN; any UDP entry counts, since a UDP
# socket that has a port can receive from anyone.

# The pids of PID's descendants.
_nolisten_descendants() {
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

# Checks one pid; prints offenders; returns 0 clean, 1 listening, 2 unreadable.
_nolisten_one() {
	_np=$1
	[ -d "/proc/$_np" ] || return 0
	_inodes=$(ls -l "/proc/$_np/fd" 2>/dev/null |
	    sed -n 's/.*socket:\[\([0-9]*\)\].*/\1/p' | tr '\n' ' ')
	if [ -z "$_inodes" ]; then
		# No socket at all, or fds we may not read: tell them apart.
		if ! ls "/proc/$_np/fd" >/dev/null 2>&1 && [ -d "/proc/$_np" ]; then
			echo "nolisten: cannot read /proc/$_np/fd" >&2
			return 2
		fi
		return 0
	fi
	_comm=$(cat "/proc/$_np/comm" 2>/dev/null)
	_nres=0
	for _proto in tcp tcp6 udp udp6; do
		_tbl=/proc/$_np/net/$_proto
		[ -r "$_tbl" ] || continue
		awk -v proto="$_proto" -v pid="$_np" -v comm="$_comm" \
		    -v inodes=" $_inodes " '
		function hexval(h,    i, v) {
			v = 0
			for (i = 1; i <= length(h); i++)
				v = v * 16 + index("0123456789ABCDEF", substr(toupper(h), i, 1)) - 1
			return v
		}
		function addr(a,    p, h, port, ip, i) {
			p = index(a, ":")
			h = substr(a, 1, p - 1)
			port = hexval(substr(a, p + 1))
			if (length(h) == 8) {
				# little-endian IPv4
				ip = hexval(substr(h, 7, 2)) "." hexval(substr(h, 5, 2)) "." \
				    hexval(substr(h, 3, 2)) "." hexval(substr(h, 1, 2))
				return ip ":" port
			}
			return "[" h "]:" port
		}
		NR > 1 {
			if (index(inodes, " " $10 " ") == 0)
				next
			if (proto ~ /^tcp/ && $4 != "0A")
				next
			printf "nolisten: pid %s (%s) %s %s %s\n", pid, comm, proto,
			    proto ~ /^tcp/ ? "LISTEN" : "bound", addr($2)
			found = 1
		}
		END { exit found ? 1 : 0 }' "$_tbl" || _nres=1
	done
	return "$_nres"
}

# nolisten_check [-c] PID...
nolisten_check() {
	_nkids=0
	if [ "${1:-}" = -c ]; then
		_nkids=1
		shift
	fi
	_nall=
	for _np0 in "$@"; do
		_nall="$_nall $_np0"
		[ "$_nkids" = 1 ] && _nall="$_nall $(_nolisten_descendants "$_np0" | tr '\n' ' ')"
	done
	_nrc=0
	for _np0 in $_nall; do
		_nolisten_one "$_np0"
		case $? in
		0) ;;
		*) _nrc=1 ;;
		esac
	done
	return "$_nrc"
}

# nolisten_check_user_procs NAME...: finds the current user's processes by
# executable name. pgrep matches the 15-byte comm, so longer names are also looked
# for by the basename of /proc/PID/exe.
nolisten_check_user_procs() {
	NOLISTEN_FOUND=
	_nuid=$(id -u)
	for _nname in "$@"; do
		if [ "${#_nname}" -le 15 ]; then
			NOLISTEN_FOUND="$NOLISTEN_FOUND $(pgrep -u "$_nuid" -x "$_nname" |
			    tr '\n' ' ')"
		fi
		for _nd in /proc/[0-9]*; do
			_nexe=$(readlink "$_nd/exe" 2>/dev/null) || continue
			case ${_nexe##*/} in
			"$_nname"|"$_nname (deleted)") ;;
			# make check-valgrind: valgrind runs it, named by a later argument
			memcheck-*-linux)
				tr '\0' '\n' <"$_nd/cmdline" 2>/dev/null | grep -q "/$_nname\$" ||
				    continue ;;
			*) continue ;;
			esac
			[ "$(stat -c %u "$_nd" 2>/dev/null)" = "$_nuid" ] || continue
			case " $NOLISTEN_FOUND " in
			*" ${_nd#/proc/} "*) ;;
			*) NOLISTEN_FOUND="$NOLISTEN_FOUND ${_nd#/proc/}" ;;
			esac
		done
	done
	# shellcheck disable=SC2086
	set -- $NOLISTEN_FOUND
	NOLISTEN_FOUND=$*
	[ $# -eq 0 ] && return 0
	nolisten_check -c "$@"
}
