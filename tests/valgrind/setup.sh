#!/bin/sh
# setup.sh SRCDIR BUILDDIR VGDIR VALGRIND - the build tree that `make
# check-valgrind` runs the shell tests in (top_builddir=VGDIR/tree).
#
# VGDIR/tree mirrors BUILDDIR with symbolic links, except for the programs of
# the product, client/codex-connect and subsystem/codex-subsystem, and
# tests/client/ssh-probe (the client's SSH library on its own): there they
# are scripts that run BUILDDIR's binaries under valgrind memcheck, so
# every way a test starts them (directly, through sshd's Subsystem line, as
# another user, from a copy) goes through valgrind. --trace-children follows
# what they start of their own (the session host that codex-subsystem starts
# from its own binary); everything else they start (login shells, the
# backends, ProxyCommand, the Codex CLI, test programs) runs natively.
#
# Every valgrind process writes VGDIR/logs/vg.TIME.PID.N.log (TIME: when the
# script started, as pids come round again); tests/valgrind/report.sh reads
# them. VGDIR/logs and VGDIR/copies are world-writable (sticky): the tests run
# the programs as throwaway users too.
#
# A test that copies a program to stand for a new build (tests/subsystem/
# hosts-t.sh) copies the script: a copy runs a copy of the binary of its own
# (VGDIR/copies/DEV.INODE.MTIME/NAME), so it still is a different binary.
set -eu

[ $# -eq 4 ] || { echo "usage: $0 SRCDIR BUILDDIR VGDIR VALGRIND" >&2; exit 2; }
S=$(cd "$1" && pwd -P)
B=$(cd "$2" && pwd -P)
VG=$3
VALGRIND=$(command -v "$4") || { echo "$0: valgrind ($4) not found" >&2; exit 1; }
SUPP=$S/tests/valgrind/valgrind.supp
# The product's programs, and the test program that drives the client's SSH
# library (tests/client/*-t.sh): codex-connect is not built with --disable-client.
PROGS=
for p in subsystem/codex-subsystem client/codex-connect tests/client/ssh-probe; do
	if [ -x "$B/$p" ]; then PROGS="$PROGS $p"; fi
done
case $PROGS in
*codex-subsystem*) ;;
*) echo "$0: $B/subsystem/codex-subsystem is not built" >&2; exit 1 ;;
esac
mkdir -p "$VG"
VG=$(cd "$VG" && pwd -P)
case $VG in
"$B"/*/*) echo "$0: VGDIR must be a direct child of BUILDDIR or outside it" >&2; exit 2 ;;
esac
rm -rf "$VG/tree" "$VG/logs" "$VG/copies"
mkdir -p "$VG/tree" "$VG/logs" "$VG/copies"
chmod 755 "$VG" "$VG/tree"
chmod 1777 "$VG/logs" "$VG/copies"

# What the programs start is traced only when it is one of them: every other
# top-level directory, the build tree's test programs and static builds, and
# the Codex CLI's cache are skipped. valgrind's patterns know only * and ?, so
# the directories holding the build tree itself are not skipped; anything else
# run from there is traced, and report.sh names it.
skip=
for d in /*; do
	[ -d "$d" ] || continue
	case $B/ in "$d"/*) continue ;; esac
	skip="$skip,$d/*"
done
for d in "$B/tests" "$B/static" "$B/bench" "$VG/tree/tests" "$VG/tree/static" \
    "$VG/tree/bench" "$S/.cache"; do
	skip="$skip,$d/*"
done
skip=${skip#,}

# mirror REL: VGDIR/tree/REL made of links to what BUILDDIR/REL holds, except
# VGDIR itself, the Makefile, the programs (their scripts come below) and the
# directories on the way to one (mirrored in turn).
mirror() {
	mkdir -p "$VG/tree$1"
	for e in "$B$1"/* "$B$1"/.[!.]*; do
		[ -e "$e" ] || [ -L "$e" ] || continue
		r=$1/${e##*/}
		if [ "$e" = "$VG" ] || [ "$r" = /Makefile ]; then continue; fi
		case " $PROGS " in
		*" ${r#/} "*) ;;
		*" ${r#/}/"*) mirror "$r" ;;
		*) ln -s "$e" "$VG/tree$r" ;;
		esac
	done
}
mirror ""

# make in the tree (tests run `make -C $top_builddir install`) is make in BUILDDIR.
cat >"$VG/tree/Makefile" <<EOF
# Made by tests/valgrind/setup.sh: make here is make in $B.
all:
	@\$(MAKE) -C '$B' all
.DEFAULT:
	@\$(MAKE) -C '$B' \$@
EOF

for p in $PROGS; do
	w=$VG/tree/$p
	name=${p##*/}
	cat >"$w.tmp" <<EOF
#!/bin/sh
# Made by tests/valgrind/setup.sh for \`make check-valgrind\`: runs
# $B/$p under valgrind memcheck.
elf='$B/$p'
# A copy of this script is another build: it runs a copy of the binary of its own.
me=\$(stat -L -c %d.%i.%Y "\$0" 2>/dev/null) || me=
if [ -n "\$me" ] && [ "\$me" != "\$(stat -L -c %d.%i.%Y '$w' 2>/dev/null)" ]; then
	c='$VG/copies/'\$me
	if [ ! -x "\$c/$name" ]; then
		mkdir -p "\$c" 2>/dev/null
		cp "\$elf" "\$c/$name.\$\$" && mv -f "\$c/$name.\$\$" "\$c/$name" || exit 126
	fi
	elf=\$c/$name
fi
exec '$VALGRIND' --tool=memcheck --vgdb=no --trace-children=yes \\
    --trace-children-skip='$skip' \\
    --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite \\
    --error-exitcode=97 --num-callers=30 --suppressions='$SUPP' \\
    --log-file="$VG/logs/vg.\$(date +%s%N).%p.%n.log" \${CXS_VALGRIND_OPTS-} "\$elf" "\$@"
EOF
	chmod 755 "$w.tmp"
	mv -f "$w.tmp" "$w"
done
echo "valgrind tree: $VG/tree (logs in $VG/logs)"
