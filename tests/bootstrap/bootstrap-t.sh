#!/bin/sh
# bootstrap-t.sh - codex-connect on a host where nobody installed anything: a
# private sshd with no `Subsystem codex` line, throw-away Unix users with empty
# homes. The first connect uploads codex-subsystem (SHA-256 checked on the remote)
# and works; the second reuses it; a corrupted upload is refused and nothing runs;
# bash, dash, zsh, fish and tcsh login shells with rc files that print text, a
# .bashrc that ends in `exec zsh -l`, a $SHELL that accepts only -c, a login PATH
# without mkdir/chmod/sha256sum; two first connects at once upload once; a lock
# left by a killed upload is taken over; a home directory others can write is
# refused.
#
# Needs root (useradd) and the static build in $top_builddir/static (./dev test
# makes it); skips otherwise.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$PWD}"
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/sshd.sh"
. "$top_srcdir/tests/lib/users.sh"

B=$top_builddir
CONNECT=$B/client/codex-connect
FAKE=$B/tests/fake-app-server
V=$("$B/subsystem/codex-subsystem" --version | sed 's/^codex-subsystem //')

sshd_available || skip_all "$SSHD_WHY"
users_available || skip_all "$USERS_WHY"
USERS_FAKE=$FAKE
builds=${CODEX_SSH_BUILDS:-$B/static}
[ -x "$builds/linux-$(uname -m)/codex-subsystem" ] ||
    skip_all "no static build in $builds (./dev static makes it)"
export CODEX_SSH_BUILDS="$builds"
unset SSH_AUTH_SOCK SSH_AGENT_PID SSH_ASKPASS DISPLAY CODEX_CLI

tap_tmpdir T
chmod 755 "$T"
sshd_start "$T/sshd" || bail "cannot start sshd"
chmod 755 "$T/sshd"
chmod 644 "$SSHD_DIR/authorized_keys"

INIT='{"id":1,"method":"initialize","params":{"clientInfo":{"name":"boot-t","version":"1"}}}'
users=

# mkuser NAME SHELL: the throw-away user cxs-b-NAME (tests/lib/users.sh).
mkuser() {
	users_make "cxs-b-$1" "$2" "$T/home-$1"
	users="$users cxs-b-$1"
}

# connect USER [ARGS...]: an initialize through codex-connect --stdio; stdout in
# $OUT, stderr in $ERR, exit status in $RC.
connect() {
	_u=$1
	shift
	OUT=$(printf '%s\n' "$INIT" | timeout -k 5 60 "$CONNECT" -F "$SSH_CONFIG" -l "$_u" \
	    "$@" testhost --stdio 2>"$T/err")
	RC=$?
	ERR=$(cat "$T/err")
}

answered='^\{"id":1,"result":\{"userAgent":"fake-app-server'

plan_lazy

# ---- first and second connect ---------------------------------------------------------
mkuser bash /bin/bash || bail "useradd failed"
connect cxs-b-bash
like "$OUT" "$answered" "no Subsystem line, empty home: the first connect works"
is "$RC" 0 "  exit 0"
like "$ERR" "uploaded codex-subsystem $V" "  after uploading codex-subsystem (said on stderr)"
bin=$T/home-bash/.codex/ssh/bin/$V/codex-subsystem
ok "$([ -x "$bin" ]; echo $?)" "  installed as ~/.codex/ssh/bin/$V/codex-subsystem"
is "$(stat -c %a "$T/home-bash/.codex" "$T/home-bash/.codex/ssh" "$T/home-bash/.codex/ssh/bin" \
    "$T/home-bash/.codex/ssh/bin/$V" | tr '\n' ' ')" "700 700 700 700 " "  in 0700 directories"
is "$(sha256sum <"$bin" | cut -d' ' -f1)" \
    "$(sha256sum <"$builds/linux-$(uname -m)/codex-subsystem" | cut -d' ' -f1)" "  the very build we carry"
# Old versions: one nothing runs, one a process still runs.
bb=$T/home-bash/.codex/ssh/bin
mkdir -p "$bb/0.0.1" "$bb/0.0.2"
cp /bin/true "$bb/0.0.1/codex-subsystem"
cp /bin/sleep "$bb/0.0.2/codex-subsystem"
chown -R cxs-b-bash "$bb"
chmod -R go-rwx "$bb"
su -s /bin/sh cxs-b-bash -c "exec $bb/0.0.2/codex-subsystem 60" </dev/null >/dev/null 2>&1 &
old_pid=$!
at_exit "kill $old_pid 2>/dev/null"
i=0; while ! pgrep -u cxs-b-bash -f "$bb/0.0.2" >/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
connect cxs-b-bash
like "$OUT" "$answered" "the second connect works"
unlike "$ERR" "upload" "  without uploading again"
ok "$([ ! -e "$bb/0.0.1" ]; echo $?)" "  an old version nothing runs is pruned"
ok "$([ -x "$bb/0.0.2/codex-subsystem" ]; echo $?)" "  one still running is kept"
kill "$old_pid" 2>/dev/null; pkill -u cxs-b-bash -f "$bb/0.0.2" 2>/dev/null

# ---- a corrupted upload is refused ---------------------------------------------------
mkuser dash /bin/dash || bail "useradd failed"
CODEX_CONNECT_TEST_CORRUPT_UPLOAD=1 connect cxs-b-dash
isnt "$RC" 0 "a corrupted upload: codex-connect fails"
like "$ERR" "SHA-256 is [0-9a-f]+, not [0-9a-f]+; not running it" "  saying the checksum did not match"
ok "$([ ! -e "$T/home-dash/.codex/ssh/bin/$V/codex-subsystem" ]; echo $?)" "  nothing installed"
is "$(pgrep -u cxs-b-dash -f codex-subsystem | grep -c .)" 0 "  nothing runs"
ok "$(! ls -A "$T/home-dash/.codex/ssh/bin/$V" | grep -q .; echo $?)" "  no temporary file or lock left"

# ---- login shells with noisy rc files --------------------------------------------------
for sh in /bin/dash /usr/bin/zsh /usr/bin/fish /usr/bin/tcsh; do
	name=${sh##*/}
	if [ ! -x "$sh" ]; then
		skip "$name is not installed"
		continue
	fi
	mkuser "s$name" "$sh" || bail "useradd failed"
	connect "cxs-b-s$name"
	like "$OUT" "$answered" "login shell $name with rc files that print text: works"
done

mkuser execzsh /bin/bash || bail "useradd failed"
printf 'echo "about to switch"\nexec zsh -l\n' >"$T/home-execzsh/.bashrc"
connect cxs-b-execzsh
like "$OUT" "$answered" "a .bashrc that ends in \`exec zsh -l\`: works"

cat >"$T/onlyc" <<'EOF'
#!/bin/sh
# a login shell that accepts nothing but -c COMMAND
[ "$1" = -c ] && [ $# -eq 2 ] || { echo "onlyc: only -c is supported" >&2; exit 64; }
exec /bin/sh -c "$2"
EOF
chmod 755 "$T/onlyc"
mkuser onlyc "$T/onlyc" || bail "useradd failed"
# Such a shell reads no login files: the backend is named by its path.
mkdir -p "$T/home-onlyc/.codex/ssh"
echo "Backend app-server $FAKE app-server" >"$T/home-onlyc/.codex/ssh/subsystem.conf"
chown -R cxs-b-onlyc "$T/home-onlyc/.codex"
chmod -R go-rwx "$T/home-onlyc/.codex"
connect cxs-b-onlyc
like "$OUT" "$answered" "a \$SHELL that accepts only -c: works"

mkuser nopath /bin/bash || bail "useradd failed"
printf 'PATH=/nonexistent\nexport PATH\n' >"$T/home-nopath/.bashrc"
connect cxs-b-nopath
like "$OUT" "$answered" "a login PATH without mkdir, chmod or sha256sum: works"

# ---- two first connects at once ---------------------------------------------------------
mkuser twice /bin/bash || bail "useradd failed"
for i in 1 2; do
	printf '%s\n' "$INIT" | timeout -k 5 60 "$CONNECT" -F "$SSH_CONFIG" -l cxs-b-twice \
	    testhost --stdio >"$T/twice$i.out" 2>"$T/twice$i.err" &
	eval "tw$i=\$!"
done
wait "$tw1"; wait "$tw2"
like "$(cat "$T/twice1.out")$(cat "$T/twice2.out")" "$answered.*userAgent" "two first connects at once: both work"
is "$(cat "$T/twice1.err" "$T/twice2.err" | grep -c 'uploaded codex-subsystem')" 1 "  and upload once"

# ---- a lock left by a killed upload -----------------------------------------------------
mkuser lock /bin/bash || bail "useradd failed"
d=$T/home-lock/.codex/ssh/bin/$V
mkdir -p "$d/.lock"
sh -c 'echo $$' >"$d/.lock/pid"    # a pid that has exited
chown -R cxs-b-lock "$T/home-lock/.codex"
chmod -R go-rwx "$T/home-lock/.codex"
connect cxs-b-lock
like "$OUT" "$answered" "a lock left by a killed upload is taken over"

# ---- a dropped link resumes through the exec fallback ------------------------------------
relay_start "$T" 120 || bail "the relay did not start"
sshd_known_hosts "$T/kh-relay" "$RELAY_PORT"
sed "s/^\([[:space:]]*\)Port .*/\1Port $RELAY_PORT/; s|UserKnownHostsFile .*|UserKnownHostsFile $T/kh-relay|" \
    "$SSH_CONFIG" >"$T/cfg-relay"
python3 - "$CONNECT" "$T/cfg-relay" "$T/relay.ctl" "$RELAY_PID" "$INIT" >"$T/cut" 2>&1 <<'PY'
import json, os, signal, subprocess, sys, time
connect, cfg, ctl, relay, init = sys.argv[1:6]
p = subprocess.Popen([connect, "-F", cfg, "-l", "cxs-b-bash", "testhost", "--stdio"],
                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
def send(m):
    p.stdin.write((json.dumps(m) + "\n").encode()); p.stdin.flush()
def recv():
    line = p.stdout.readline()
    if not line:
        print("FAIL codex-connect ended"); sys.exit(1)
    return json.loads(line)
send(json.loads(init)); recv()
send({"id": 2, "method": "thread/start", "params": {}}); recv()
send({"id": 3, "method": "turn/start", "params": {"threadId": "thr-1",
      "input": [{"type": "text", "text": "deltas=20000 rate=10000"}]}})
k = 0
while True:
    m = recv()
    if m.get("method") == "item/agentMessage/delta":
        if m["params"]["delta"] != "d%d " % k:
            print("FAIL delta %d: %r" % (k, m["params"]["delta"])); sys.exit(1)
        k += 1
        if k == 5000:
            with open(ctl, "w") as f:
                f.write("cut\n")
            os.kill(int(relay), signal.SIGUSR1)
    elif m.get("method") == "turn/completed":
        break
p.stdin.close(); p.wait(30)
print("OK %d deltas in order" % k)
PY
like "$(cat "$T/cut")" "^OK 20000 deltas in order" \
    "no Subsystem line: a link cut mid-turn resumes through the exec fallback, every delta once"
like "$(cat "$T/relay.log")" "cut [1-9]" "  (the relay did reset the connection)"
like "$(cat "$T/relay.log")" "accept 2" "  (and codex-connect connected again)"

# ---- where codex-subsystem cannot run: the plain app server ---------------------------------
mkuser nobuild /bin/bash || bail "useradd failed"
mkdir -p "$T/no-builds"
CODEX_SSH_BUILDS="$T/no-builds" connect cxs-b-nobuild
like "$OUT" "$answered" "no build for the host: codex app-server through the login shell answers"
like "$ERR" "carries no build for Linux $(uname -m).*plain mode, so no resume" \
    "  said once, with what is lost"
is "$RC" 0 "  exit 0"

mkuser noexec /bin/bash || bail "useradd failed"
if mkdir -p "$T/noexec-home" && mount -t tmpfs -o noexec,mode=755 tmpfs "$T/noexec-home" 2>/dev/null; then
	at_exit "umount -l '$T/noexec-home' 2>/dev/null"
	cp -a "$T/home-noexec/." "$T/noexec-home/"
	usermod -d "$T/noexec-home" cxs-b-noexec >/dev/null 2>&1
	ln -sf "$FAKE" "$T/noexec-home/bin/codex"
	rm -f "$T/noexec-home/bin/codex"
	# codex itself must live where it may run
	mkdir -p "$T/exec-bin" && ln -sf "$FAKE" "$T/exec-bin/codex"
	printf 'export PATH="%s:$PATH"\n' "$T/exec-bin" >>"$T/noexec-home/.profile"
	printf 'export PATH="%s:$PATH"\n' "$T/exec-bin" >>"$T/noexec-home/.bash_profile"
	chown -R cxs-b-noexec "$T/noexec-home"
	connect cxs-b-noexec
	like "$OUT" "$answered" "a noexec home: the upload cannot run, the plain app server answers"
	like "$ERR" "does not run here \\(a noexec home\\?\\).*plain mode" "  saying why"
else
	skip "cannot mount a noexec tmpfs here" 2
fi

mkuser rohome /bin/bash || bail "useradd failed"
if mkdir -p "$T/ro-home" && mount -t tmpfs -o mode=755 tmpfs "$T/ro-home" 2>/dev/null; then
	at_exit "umount -l '$T/ro-home' 2>/dev/null"
	cp -a "$T/home-rohome/." "$T/ro-home/"
	chown -R cxs-b-rohome "$T/ro-home"
	usermod -d "$T/ro-home" cxs-b-rohome >/dev/null 2>&1
	mount -o remount,ro "$T/ro-home"
	connect cxs-b-rohome
	like "$OUT" "$answered" "a read-only home: nowhere to install, the plain app server answers"
	like "$ERR" "cannot create .*read-only home.*plain mode" "  saying why"
else
	skip "cannot mount a tmpfs here" 2
fi

# ---- unsafe directories -----------------------------------------------------------------
mkuser symlink /bin/bash || bail "useradd failed"
mkdir -p "$T/elsewhere"
chown cxs-b-symlink "$T/elsewhere"
chmod 700 "$T/elsewhere"
ln -s "$T/elsewhere" "$T/home-symlink/.codex"
connect cxs-b-symlink
isnt "$RC" 0 "a ~/.codex that is a symbolic link: refused"
like "$ERR" "\\.codex is a symbolic link; refusing to use it" "  saying why"
ok "$(! ls -A "$T/elsewhere" | grep -q .; echo $?)" "  nothing written where it points"

mkuser unsafe /bin/bash || bail "useradd failed"
mkdir -p "$T/home-unsafe/.codex"
chown cxs-b-unsafe "$T/home-unsafe/.codex"
chmod 777 "$T/home-unsafe/.codex"
connect cxs-b-unsafe
isnt "$RC" 0 "a ~/.codex others can write: refused"
like "$ERR" "\\.codex is writable by others; refusing to use it" "  saying why"

mkuser squat /bin/bash || bail "useradd failed"
mkdir -p "$T/home-squat/.codex/ssh"
chown cxs-b-squat "$T/home-squat/.codex"
chown nobody "$T/home-squat/.codex/ssh"
chmod 700 "$T/home-squat/.codex/ssh"
connect cxs-b-squat
isnt "$RC" 0 "a ~/.codex/ssh another user made: refused"
like "$ERR" "\\.codex/ssh is not owned by you; refusing to use it" "  saying why"
ok "$(! ls -A "$T/home-squat/.codex/ssh" | grep -q .; echo $?)" "  nothing written in it"

# Stop what the uploaded codex-subsystems started (hosts exit on their own later).
for u in $users; do
	h=$(getent passwd "$u" | cut -d: -f6)
	[ -x "$h/.codex/ssh/bin/$V/codex-subsystem" ] &&
	    su -s /bin/sh "$u" -c "HOME=$h $h/.codex/ssh/bin/$V/codex-subsystem stop" >/dev/null 2>&1
done
done_testing
