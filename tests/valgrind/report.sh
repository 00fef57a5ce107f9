#!/bin/sh
# report.sh LOGDIR - reads the vg.*.log files that the valgrind wrappers of
# tests/valgrind/setup.sh wrote, prints a summary (log files, processes,
# errors) and every log with an error, and exits 1 when there was an error or
# no log at all (then nothing ran under valgrind).
#
# One log holds one process under valgrind: a program, or a child it forked
# until it exits or execs (valgrind starts a new log then). Per process, an
# error is one of memcheck's error records: the "N contexts" of its ERROR
# SUMMARY when it got that far, else (an exec, or SIGKILL) every record it
# printed before. Definite leaks count for a process that exited; one that a
# signal ended has no say on leaks (its memory was still in use), but a crash
# (SEGV, BUS, ILL, FPE, ABRT) is an error itself.
set -u

[ $# -eq 1 ] || { echo "usage: $0 LOGDIR" >&2; exit 2; }
dir=$1
set -- "$dir"/vg.*.log
[ -e "$1" ] || { echo "valgrind: no log in $dir: nothing ran under valgrind"; exit 1; }

tab=$(printf '\t')
# One line per process: FILE<tab>PID<tab>ERRORS<tab>HOW<tab>PROGRAM ARGS
awk '
function flush_file(   p) {
	for (p in seen) {
		e = summary[p] != "" ? summary[p] : blocks[p]
		if (sig[p] != "" && summary[p] != "")
			e -= leaks[p]
		if (e < 0) e = 0
		how = summary[p] != "" ? (sig[p] != "" ? "signal " sig[p] : "exit") : "exec or SIGKILL"
		if (sig[p] ~ /^(4|6|7|8|11)$/) { e++; how = how " (crash)" }
		printf "%s\t%s\t%d\t%s\t%s\n", file, p, e, how, cmd
	}
	split("", seen); split("", summary); split("", blocks); split("", leaks)
	split("", sig); split("", last)
}
FNR == 1 { if (file != "") flush_file(); file = FILENAME; cmd = "?" }
match($0, /^==[0-9]+== /) {
	p = substr($0, 3, RLENGTH - 5); t = substr($0, RLENGTH + 1)
	seen[p] = 1
	if (t ~ /^Command: /) { if (cmd == "?") cmd = substr(t, 10) }
	else if (t ~ /^ERROR SUMMARY: /) { split(t, w, " "); summary[p] = w[6] + 0 }
	else if (t ~ /^Process terminating with default action of signal /) {
		split(t, w, " "); sig[p] = w[8] + 0
	} else if (t ~ /are definitely lost in loss record/) leaks[p]++
	else if (t ~ /^   (at|by) 0x/ && last[p] != "" && last[p] !~ /^ / &&
	    last[p] !~ /^(Warning|Process terminating|HEAP SUMMARY|LEAK SUMMARY)/ &&
	    last[p] !~ /are definitely lost in loss record/)
		blocks[p]++
	last[p] = t ~ /^   (at|by) 0x/ ? " " : t
}
END { if (file != "") flush_file() }
' "$@" >"$dir/processes.tsv"

awk -F"$tab" -v dir="$dir" '
{
	n++; split($5, w, " "); prog = w[1]; sub(/.*\//, "", prog)
	if (prog == "codex-connect" || prog == "codex-subsystem" || prog == "ssh-probe") {
		kind = prog
		if (prog == "codex-subsystem" && w[2] == "host") kind = "session host"
	} else {
		kind = "other"; others[prog] = 1
	}
	count[kind]++; how[$4 ~ /^exit/ ? "exited" : ($4 ~ /^exec/ ? "gone" : "by signal")]++
	errors += $3; if ($3 > 0) bad[$1] += $3
	files[$1] = 1
}
END {
	for (f in files) nf++
	printf "valgrind: %d log files, %d processes (", nf, n
	printf "codex-connect %d, codex-subsystem %d, session host %d, ssh-probe %d, other %d; ", \
	    count["codex-connect"], count["codex-subsystem"], count["session host"], \
	    count["ssh-probe"], count["other"]
	printf "%d exited, %d ended by a signal, %d exec\047d or killed), %d errors\n", \
	    how["exited"], how["by signal"], how["gone"], errors
	for (o in others) printf "valgrind: traced but not ours: %s\n", o
	for (f in bad) printf "%s %d\n", f, bad[f] > (dir "/bad")
	exit errors > 0
}' "$dir/processes.tsv"
rc=$?
if [ -s "$dir/bad" ]; then
	while read -r f e; do
		echo "---- $f: $e error(s) ----"
		sed -n '1,400p' "$f"
	done <"$dir/bad"
fi
rm -f "$dir/bad"
exit "$rc"
