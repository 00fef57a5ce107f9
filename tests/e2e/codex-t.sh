#!/bin/sh
# codex-t.sh - the real Codex app server (@openai/codex@0.169.0) through codex-ssh,
# end to end, with no account and no network: a private OpenSSH sshd on 127.0.0.1
# runs codex-subsystem, whose backends are the real `codex app-server` and `codex
# exec-server --listen stdio`; the model is tests/mock-responses.py on 127.0.0.1.
#
#   (a) codex-connect --stdio: a whole turn, every delta in order; an approval
#       answered through the tunnel and the command's output seen; a command
#       printing 1 MB; thread/list and thread/resume from a new client process
#   (b) codex-connect exec: the mock's text on stdout; an approval declined
#       without a terminal; --yes
#   (c) the real Codex TUI (`codex --remote unix://SOCK`) in tmux against
#       codex-connect's socket: a prompt typed, the mock's reply on the screen;
#       after it, codex-connect's "to resume" hint, and `codex connect HOST
#       resume ID` (through the wrapper) and `resume --last` back on the thread
#   (d) the link cut, then black-holed, in the middle of a 20,000-delta turn
#       (tests/client/relay.py): every delta exactly once, in order; and the
#       framed tunnel-probe with the ssh client killed mid-turn
#   (e) the exec-server backend: a process run and a file read through the tunnel
#   (f) no process of ours holds a listening TCP/UDP socket
#
# Skips when sshd, python3 or npm is missing, or the Codex CLI cannot be
# installed (tests/lib/codex.sh caches it in $top_srcdir/.cache). Run by `make
# check`, or by hand from the build directory:
#   top_srcdir=.. top_builddir=$PWD sh ../tests/e2e/codex-t.sh
# Every client runs under timeout(1), in a new session (setsid) without a terminal.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$PWD}"
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/sshd.sh"
. "$top_srcdir/tests/lib/nolisten.sh"
. "$top_srcdir/tests/lib/codex.sh"

B=$top_builddir
CONNECT=$B/client/codex-connect
SUB=$B/subsystem/codex-subsystem
PROBE=$B/tests/tunnel-probe
RELAY=$top_srcdir/tests/client/relay.py
TO=${CONNECT_TIMEOUT:-60}

sshd_available || skip_all "$SSHD_WHY"
for f in "$CONNECT" "$SUB"; do
	[ -x "$f" ] || skip_all "not built: $f"
done
command -v python3 >/dev/null 2>&1 || skip_all "python3 not installed"
command -v setsid >/dev/null 2>&1 || skip_all "setsid(1) not installed"
codex_install || skip_all "$CODEX_WHY"

# Nothing of the caller's may leak in.
unset SSH_AUTH_SOCK SSH_AGENT_PID SSH_ASKPASS SSH_ASKPASS_REQUIRE DISPLAY \
    WAYLAND_DISPLAY CODEX_CLI OPENAI_API_KEY CODEX_API_KEY TMUX

t_start=$(date +%s)
tap_tmpdir T
codex_mock_start "$T/mock" || bail "the mock model did not start"
diag "codex: $CODEX_BIN; mock model on 127.0.0.1:$MOCK_PORT"

mkdir -p "$T/work"
echo "a file read through the exec-server" >"$T/work/hello.txt"
cat >"$T/conf" <<CONF
Backend app-server $CODEX_BIN app-server
Backend exec-server $CODEX_BIN exec-server --listen stdio
DefaultBackend app-server
SetEnv CODEX_HOME=$CODEX_HOME
LoginShell no
RuntimeDir $T/run-%i
JournalDir $T/journal-%i
LogFile $T/log-%i
LogLevel VERBOSE
IdleTimeout 60s
CONF
at_exit "$SUB stop -f $T/conf >/dev/null 2>&1"

sshd_start "$T/sshd" "AllowTcpForwarding no" "DisableForwarding yes" \
    "Subsystem codex $SUB -f $T/conf" || bail "cannot start sshd"

# The relay (a TCP hop a test can cut) comes from tests/client/; without it the
# relay tests are skipped.
RELAY_PID='' RELAY_PORT=0
if [ -f "$RELAY" ]; then
	relay_start "$T" 300 || bail "the relay did not start"
fi

sshd_known_hosts "$T/known_hosts" "$SSHD_PORT" "$RELAY_PORT"
cat >"$T/cfg" <<EOF
Host devbox
	Port $SSHD_PORT
Host relayhost
	Port $RELAY_PORT
Host *
	HostName 127.0.0.1
	User $SSHD_USER
	IdentityFile $SSHD_CLIENT_KEY
	IdentitiesOnly yes
	IdentityAgent none
	PreferredAuthentications publickey
	UserKnownHostsFile $T/known_hosts
	GlobalKnownHostsFile /dev/null
	StrictHostKeyChecking yes
	BatchMode yes
	ConnectTimeout 10
EOF
chmod 600 "$T/cfg"
CFG=$T/cfg

# cc ARG...: codex-connect -F $CFG ARG... in a new session without a terminal;
# stdout in $OUT, stderr in $ERR, status in $RC.
cc() {
	setsid -w timeout -k 5 "$TO" "$CONNECT" -F "$CFG" "$@" </dev/null >"$T/out" 2>"$T/err"
	RC=$?
	OUT=$(cat "$T/out")
	ERR=$(cat "$T/err")
}

# A JSON-RPC client for `codex-connect --stdio` (JSONL on its stdin/stdout).
# Scenarios:
#   turns       initialize, thread/start, then on that thread: a turn of
#               --deltas N ("d0 " ... checked in order, turn/completed), an
#               approval accepted (the command's output must come back), a
#               command printing 1,000,000 bytes; the thread id to --save
#   resume TID  thread/list shows TID; thread/resume TID; a turn on it whose
#               answer proves the model got the thread's history
#   deltas      one turn of --deltas N, with --cut-at K:WORDS,... telling the
#               relay WORDS after delta K
#   exec-server initialize {clientName}; process/start; its output and exit;
#               fs/readFile --file
# Prints "OK ..." lines, or "FAIL reason" and exits 1.
cat >"$T/drive.py" <<'EOF'
import argparse, base64, json, os, select, signal, subprocess, sys, time
ap = argparse.ArgumentParser()
ap.add_argument("scenario")
ap.add_argument("arg", nargs="?")
ap.add_argument("--deltas", type=int, default=100)
ap.add_argument("--cut-at", default="")
ap.add_argument("--relay-pid", type=int, default=0)
ap.add_argument("--ctl", default="")
ap.add_argument("--save", default="")
ap.add_argument("--cwd", default="")
ap.add_argument("--file", default="")
ap.add_argument("--timeout", type=float, default=60)
argv = sys.argv[1:]
if "--" not in argv:
    sys.exit("usage: drive.py SCENARIO [ARG] [OPTIONS] -- COMMAND...")
cmd = argv[argv.index("--") + 1:]
a = ap.parse_args(argv[:argv.index("--")])
t0 = time.monotonic()
deadline = t0 + a.timeout
p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
buf = b""
nid = [0]
methods = {}

def fail(msg):
    p.kill()
    print("FAIL %s (after %.1f s)" % (msg, time.monotonic() - t0))
    sys.exit(1)

def send(o):
    p.stdin.write(json.dumps(o).encode() + b"\n")

def recv():
    global buf
    while b"\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            fail("timed out")
        r, _, _ = select.select([p.stdout], [], [], left)
        if r:
            d = os.read(p.stdout.fileno(), 1 << 16)
            if not d:
                fail("codex-connect closed its stdout (status %s)" % p.wait())
            buf += d
    line, buf = buf.split(b"\n", 1)
    m = json.loads(line)
    if "method" in m:
        methods[m["method"]] = methods.get(m["method"], 0) + 1
    return m

def request(method, params):
    nid[0] += 1
    send({"id": nid[0], "method": method, "params": params})
    return nid[0]

def answer(i, on_other=None):
    while True:
        m = recv()
        if m.get("id") == i and "method" not in m:
            if "result" not in m:
                fail("request %d: %r" % (i, m))
            return m["result"]
        if on_other:
            on_other(m)

def relay(words):
    with open(a.ctl, "w") as f:
        f.write(words + "\n")
    os.kill(a.relay_pid, signal.SIGUSR1)

def init(params=None):
    i = request("initialize", params or
                {"clientInfo": {"name": "codex-t", "version": "1"}})
    r = answer(i)
    send({"method": "initialized"})
    return r

def thread_start():
    pr = {"cwd": a.cwd} if a.cwd else {}
    return answer(request("thread/start", pr))["thread"]["id"]

agg = []    # aggregatedOutput of the commands of the last turn

def turn(tid, text, approve=None):
    """Runs a turn; returns (deltas, agent texts, command output, approvals)."""
    answer(request("turn/start", {"threadId": tid, "input": [{"type": "text", "text": text}]}))
    deltas, texts, out, approvals = [], [], [], []
    agg.clear()
    while True:
        m = recv()
        meth, pr = m.get("method"), m.get("params", {})
        if meth and "id" in m:
            approvals.append(meth)
            if approve is None:
                fail("unexpected server request %r" % m)
            send({"id": m["id"], "result": {"decision": approve}})
        elif meth == "item/agentMessage/delta":
            deltas.append(pr["delta"])
        elif meth == "item/commandExecution/outputDelta":
            out.append(pr["delta"])
        elif meth == "item/completed" and pr["item"]["type"] == "agentMessage":
            texts.append(pr["item"]["text"])
        elif meth == "item/completed" and pr["item"]["type"] == "commandExecution":
            agg.append(pr["item"].get("aggregatedOutput") or "")
        elif meth == "turn/completed":
            if pr["turn"]["status"] != "completed":
                fail("turn ended %r" % pr["turn"])
            return deltas, texts, "".join(out), approvals

def check_deltas(deltas, n):
    for k, d in enumerate(deltas):
        if d != "d%d " % k:
            fail("delta %d is %r" % (k, d))
    if len(deltas) != n:
        fail("%d deltas, not %d" % (len(deltas), n))

def finish():
    p.stdin.close()
    try:
        rc = p.wait(max(1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        fail("codex-connect did not exit after stdin EOF")
    return rc

if a.scenario == "turns":
    r = init()
    print("OK initialize: userAgent %s" % r["userAgent"].split(" ")[0])
    tid = thread_start()
    t1 = time.monotonic()
    deltas, texts, _, _ = turn(tid, "deltas=%d" % a.deltas)
    check_deltas(deltas, a.deltas)
    if texts != ["".join(deltas)]:
        fail("agent message %r" % texts)
    print("OK turn: %d deltas in order, turn/completed (%.2f s)" % (len(deltas), time.monotonic() - t1))
    mark = "approved-%d" % os.getpid()
    deltas, texts, out, approvals = turn(tid, "approve exec='echo %s'" % mark, "accept")
    if approvals != ["item/commandExecution/requestApproval"]:
        fail("approvals %r" % approvals)
    if out.strip().splitlines()[-1:] != [mark] and "".join(agg).strip().splitlines()[-1:] != [mark]:
        fail("command output %r, aggregated %r" % (out, agg))
    if texts != ["Ran it, exit code 0: %s" % mark]:
        fail("agent message %r" % texts)
    print("OK approval: item/commandExecution/requestApproval accepted, output seen, model saw it")
    # The app server streams a command's output in outputDelta notifications as
    # it reads it, but stops when the process ends: a fast command gets all, part
    # or none of its output streamed (0.169, on stdio too). All of it is in
    # item/completed's aggregatedOutput: here one message of about 1 MB.
    t1 = time.monotonic()
    _, texts, out, _ = turn(tid, "bigout")
    nd, na = out.count("x"), "".join(agg).count("x")
    print("OK bigout: %d bytes of x in item/completed, %d in outputDelta (%.2f s)" % (na, nd, time.monotonic() - t1))
    if nd > na:
        fail("outputDelta carried %d bytes, more than the %d of the command" % (nd, na))
    if a.save:
        with open(a.save, "w") as f:
            f.write(tid)
    print("OK exit %d" % finish())
elif a.scenario == "resume":
    init()
    data = answer(request("thread/list", {}))["data"]
    found = [t for t in data if t["id"] == a.arg]
    if not found:
        fail("thread/list has no %s: %r" % (a.arg, [t["id"] for t in data]))
    print("OK thread/list: %d threads, ours with preview %r" % (len(data), found[0]["preview"]))
    r = answer(request("thread/resume", {"threadId": a.arg}))
    if r["thread"]["id"] != a.arg:
        fail("resumed %r" % r["thread"]["id"])
    print("OK thread/resume")
    _, texts, _, _ = turn(a.arg, "recall")
    print("OK recall: %s" % texts)
    print("OK exit %d" % finish())
elif a.scenario == "deltas":
    cuts = {}
    for w in filter(None, a.cut_at.split(",")):
        n, _, what = w.partition(":")
        cuts[int(n)] = what or "cut"
    init()
    tid = thread_start()
    answer(request("turn/start", {"threadId": tid, "input": [
        {"type": "text", "text": "deltas=%d rate=%s" % (a.deltas, a.arg or 0)}]}))
    k = ncut = 0
    while True:
        m = recv()
        meth = m.get("method")
        if meth == "item/agentMessage/delta":
            if m["params"]["delta"] != "d%d " % k:
                fail("delta %d is %r" % (k, m["params"]["delta"]))
            k += 1
            if k in cuts:
                relay(cuts[k])
                ncut += 1
        elif meth == "turn/completed":
            if m["params"]["turn"]["status"] != "completed":
                fail("turn ended %r" % m["params"]["turn"])
            break
    if k != a.deltas:
        fail("%d deltas, not %d" % (k, a.deltas))
    print("OK deltas=%d cuts=%d exit=%d" % (k, ncut, finish()))
elif a.scenario == "exec-server":
    r = init({"clientName": "codex-t"})
    print("OK initialize: executor %s, shell %s" % (r["environmentInfo"]["executorVersion"],
                                                    r["environmentInfo"]["shell"]["name"]))
    i = request("process/start", {"processId": "p1", "argv": ["sh", "-c", "echo out-$((6*7)); exit 3"],
                                  "cwd": "file://" + a.cwd, "env": {"PATH": "/usr/bin:/bin"}, "tty": False})
    # process/exited may come before process/output (0.169 sends them from two
    # tasks); process/closed comes after both.
    chunks, code, closed = [], [None], [False]
    def note(m):
        if m.get("method") == "process/output":
            chunks.append(base64.b64decode(m["params"]["chunk"]))
        elif m.get("method") == "process/exited":
            code[0] = m["params"]["exitCode"]
        elif m.get("method") == "process/closed":
            closed[0] = True
    answer(i, note)
    while code[0] is None or not closed[0]:
        note(recv())
    print("OK process: output %r, exit code %s" % (b"".join(chunks).decode(), code[0]))
    data = base64.b64decode(answer(request("fs/readFile", {"path": "file://" + a.file}))["dataBase64"])
    print("OK fs/readFile: %r" % data.decode())
    print("OK exit %d" % finish())
else:
    fail("no scenario %s" % a.scenario)
EOF

# drive SCENARIO [ARG...] -- CMD...: runs drive.py; its output in $OUT,
# codex-connect's stderr in $ERR.
drive() {
	OUT=$(timeout -k 5 120 python3 "$T/drive.py" --relay-pid "${RELAY_PID:-0}" \
	    --ctl "$T/relay.ctl" --cwd "$T/work" "$@" 2>"$T/err")
	RC=$?
	ERR=$(cat "$T/err")
}

plan_lazy

# ---- (a) --stdio: turns, an approval, 1 MB of output; resume from a new process ----

drive turns --deltas 2000 --save "$T/tid" -- "$CONNECT" -F "$CFG" devbox --stdio
diag "$OUT"
like "$OUT" '^OK initialize: userAgent codex-t/0\.169\.0' "--stdio: initialize answered by the real app server (0.169.0)"
like "$OUT" '^OK turn: 2000 deltas in order' "  a 2000-delta turn: every item/agentMessage/delta in order, then turn/completed"
like "$OUT" '^OK approval:' "  an approval request answered through the tunnel; the command ran and its output came back"
like "$OUT" '^OK bigout: 1000000 bytes of x in item/completed' \
    "  a command printing 1,000,000 bytes: all of it arrives (item/completed's aggregatedOutput, one 1 MB message)"
like "$OUT" '^OK exit 0$' "  codex-connect exits 0 at stdin EOF"
is "$ERR" "" "  nothing on stderr"

drive resume "$(cat "$T/tid" 2>/dev/null)" -- "$CONNECT" -F "$CFG" devbox --stdio
diag "$OUT"
like "$OUT" '^OK thread/list: .*preview .deltas=2000' "a new client process: thread/list shows the thread"
like "$OUT" '^OK thread/resume$' "  thread/resume resumes it"
like "$OUT" "^OK recall: \\['Earlier you said: deltas=2000\\.'\\]" "  and a turn on it reaches the model with the thread's history"

# ---- (b) exec --------------------------------------------------------------------

cc devbox exec "say hello"
is "$RC:$OUT" "0:Hello from the mock model." "exec: the mock model's text on stdout, exit 0"
is "$ERR" "" "  nothing on stderr"

cc devbox exec "approve exec='echo must-not-run'"
is "$RC:$OUT" "0:The command was declined." "exec without a terminal: the approval is declined, the model is told, exit 0"
like "$ERR" "wants to run \`/bin/bash -lc 'echo must-not-run'\`.*Allow\\? no \\(no terminal; use --yes" "  saying so on stderr"
unlike "$ERR" '^must-not-run$' "  and the command did not run"

cc devbox exec --yes "approve exec='echo ran-with-yes'"
is "$RC:$OUT" "0:Ran it, exit code 0: ran-with-yes" "exec --yes: the approval is accepted and the model sees the output"
like "$ERR" 'Allow\? yes \(--yes\)' "  saying so on stderr"

cc devbox exec "fail"
is "$RC" 1 "exec: a turn that fails (the model answers HTTP 500) exits 1"
like "$ERR" "turn failed: " "  with the reason on stderr"

# One SIGINT to codex-connect once the turn streams (a first Ctrl-C before the turn
# has started is ignored). Not through timeout(1): it would pass on two (one to
# the child, one to its process group), and the second means "quit now".
: >"$T/int.out"
timeout -k 5 "$TO" "$CONNECT" -F "$CFG" devbox exec "deltas=20000 rate=1000" \
    </dev/null >"$T/int.out" 2>"$T/int.err" &
int_pid=$!
i=0
while [ "$(wc -c <"$T/int.out" 2>/dev/null || echo 0)" -lt 200 ] && [ $i -lt 200 ]; do
	sleep 0.05
	i=$((i + 1))
done
kill -INT $(ps -o pid= --ppid "$int_pid") 2>/dev/null
wait "$int_pid"
RC=$?
is "$RC" 130 "exec: Ctrl-C mid-turn sends turn/interrupt; exit 130"
like "$(cat "$T/int.err")" "turn interrupted" "  the app server reports the turn interrupted"
like "$(cat "$T/int.out")" "^d0 d1 d2 " "  after the text that came before it"

# ---- (c) the real Codex TUI, in tmux, on codex-connect's socket ----------------------

# screen_wait ERE SECS: polls the TUI's screen until a line matches; the screen
# in $SCREEN.
screen_wait() {
	_n=0
	while [ $_n -lt $(($2 * 5)) ]; do
		SCREEN=$(tmux -S "$T/tmux.sock" capture-pane -p -t "$TUI_S" 2>/dev/null)
		printf '%s\n' "$SCREEN" | grep -Eq -- "$1" && return 0
		sleep 0.2
		_n=$((_n + 1))
	done
	return 1
}

# tui_type TEXT: types TEXT, waits, then Enter on its own (a fast burst ending in
# Enter is taken for a paste: the TUI would insert a newline instead).
tui_type() {
	tmux -S "$T/tmux.sock" send-keys -t "$TUI_S" -l "$1"
	sleep 1
	tmux -S "$T/tmux.sock" send-keys -t "$TUI_S" Enter
}

SOCKDIR=$T/s
setsid timeout -k 5 150 "$CONNECT" -F "$CFG" devbox --no-tui --socket "$SOCKDIR/sock" \
    </dev/null >"$T/sock.out" 2>"$T/sock.err" &
sock_pid=$!
at_exit "kill $sock_pid 2>/dev/null"
i=0
while [ ! -S "$SOCKDIR/sock" ] && [ $i -lt 200 ] && kill -0 $sock_pid 2>/dev/null; do
	sleep 0.05
	i=$((i + 1))
done
ok "$([ -S "$SOCKDIR/sock" ]; echo $?)" "--no-tui --socket: codex-connect serves the remote app server on a unix socket"

if ! command -v tmux >/dev/null 2>&1; then
	skip "tmux not installed" 23
else
	at_exit "tmux -S '$T/tmux.sock' kill-server 2>/dev/null"
	t1=$(date +%s)
	TUI_S=tui
	tmux -S "$T/tmux.sock" -f /dev/null new-session -d -s tui -x 160 -y 48 \
	    "cd '$T/work' && env CODEX_HOME='$CODEX_HOME' TERM=xterm-256color timeout --foreground 120 '$CODEX_BIN' --remote 'unix://$SOCKDIR/sock'; echo TUI-EXITED \$?; sleep 60"
	# After one step fails the next ones fail at once (TW=0) rather than wait.
	TW=30
	tui_step() {
		_desc=$1
		shift
		if [ "$TW" -gt 0 ] && "$@"; then
			ok 0 "$_desc"
			return 0
		fi
		ok 1 "$_desc"
		[ "$TW" -gt 0 ] && diag "$SCREEN"
		TW=0
		return 1
	}
	tui_step "the real TUI (codex --remote unix://SOCK) starts on the tunnelled app server and shows its composer" \
	    screen_wait 'Ask Codex to do anything' $TW
	[ "$TW" -gt 0 ] && tui_type "say hello through the tunnel"
	tui_step "  a prompt typed in the TUI gets the mock model's reply on the screen" \
	    screen_wait 'Hello from the mock model\.' $TW
	[ "$TW" -gt 0 ] && tui_type "approve exec='echo tui-approved-ok'"
	tui_step "  the TUI asks to approve a command" \
	    screen_wait 'Would you like to run the following command' $TW
	[ "$TW" -gt 0 ] && tmux -S "$T/tmux.sock" send-keys -t "$TUI_S" y
	tui_step "  approved with y: the command runs remotely, its output reaches the model" \
	    screen_wait 'Ran it, exit code 0: tui-approved-ok' $TW
	diag "TUI: $(($(date +%s) - t1)) s from start to the approved command's answer"

	cc devbox status
	like "$OUT" "^ +[0-9]+ +[0-9]+ +app-server +[0-9]+ +attached" "status while the TUI is attached: its app-server session"

	nolisten_check_user_procs codex-connect codex-subsystem codex >"$T/nl" 2>&1
	ok $? "no codex-connect, codex-subsystem or codex process (TUI, app server) listens on TCP/UDP" ||
	    diag "$(cat "$T/nl")"
	diag "  (checked $(echo "$NOLISTEN_FOUND" | wc -w) processes and their descendants)"
	tmux -S "$T/tmux.sock" send-keys -t tui C-c

	# The default front end: `codex-connect HOST` starts the TUI itself
	# ($CODEX_CLI) on its own socket and ends with it. (A second session of the
	# same tmux server: killing the last one would make the server exit.)
	TUI_S=tui2
	tmux -S "$T/tmux.sock" new-session -d -s tui2 -x 160 -y 48 \
	    "cd '$T/work' && env CODEX_HOME='$CODEX_HOME' CODEX_CLI='$CODEX_BIN' TERM=xterm-256color timeout --foreground 120 '$CONNECT' -F '$CFG' devbox; echo CONNECT-EXITED \$?; sleep 60"
	TW=30
	tui_step "codex-connect HOST: the TUI starts by itself on codex-connect's socket" \
	    screen_wait 'Ask Codex to do anything' $TW
	[ "$TW" -gt 0 ] && tui_type "say hello again"
	tui_step "  and a prompt gets the mock model's reply" \
	    screen_wait 'Hello from the mock model\.' $TW
	# Ctrl-C quits an idle TUI; while it still finishes something (the thread's
	# title, say) it only stops that: press again until it is gone.
	tui_quit() {
		_q=0
		while [ $_q -lt 5 ]; do
			tmux -S "$T/tmux.sock" send-keys -t "$TUI_S" C-c
			screen_wait '^CONNECT-EXITED' 3 && break
			_q=$((_q + 1))
		done
		screen_wait '^CONNECT-EXITED 0$' 1
	}
	tui_step "  Ctrl-C quits the TUI, and codex-connect exits 0 with it" tui_quit
	# resume_hint: codex-connect's last line after the TUI (lines joined, as the
	# pane wraps them) in $HINT, its thread id in $HINT_ID; the id in the TUI's own
	# hint (`codex --remote unix://... resume ID`, our socket, gone now) in $TUI_ID.
	resume_hint() {
		_pane=$(tmux -S "$T/tmux.sock" capture-pane -p -J -S - -t "$TUI_S" 2>/dev/null)
		HINT=$(printf '%s\n' "$_pane" | sed -n 's/^codex-connect: to resume this session: //p' | tail -n 1)
		HINT_ID=$(printf '%s\n' "$HINT" | sed -n 's/.* resume \([0-9a-f-]\{36\}\)$/\1/p')
		TUI_ID=$(printf '%s\n' "$_pane" | sed -n 's/.*codex --remote unix:[^ ]* resume \([0-9a-f-]\{36\}\).*/\1/p' | tail -n 1)
		SCREEN=$_pane
		[ -n "$HINT_ID" ] && [ "$HINT_ID" = "$TUI_ID" ]
	}
	tui_step "  then codex-connect names the command to resume it, with the thread's id" resume_hint
	diag "  $HINT"
	is "$HINT" "codex-connect -F $CFG devbox resume $HINT_ID" \
	    "  the command repeats the options and the host as typed"

	# That command, through the `codex` wrapper (`codex connect ...`): the TUI on
	# the same remote thread, its history on the screen, and the model gets it.
	# The TUI's CODEX_HOME is not the app server's: the thread can only come from
	# the remote.
	mkdir -p "$T/bin" "$T/tuihome"
	cp "$CODEX_HOME/config.toml" "$T/tuihome/"
	cp "$top_srcdir/client/codex-wrapper.sh" "$T/bin/codex"
	chmod 755 "$T/bin/codex"
	TUI_S=tui3
	tmux -S "$T/tmux.sock" new-session -d -s tui3 -x 160 -y 48 \
	    "cd '$T/work' && env PATH='$T/bin:$B/client:$PATH' CODEX_HOME='$T/tuihome' CODEX_CLI='$CODEX_BIN' TERM=xterm-256color timeout --foreground 120 codex connect ${HINT#codex-connect }; echo CONNECT-EXITED \$?; sleep 60"
	TW=30
	[ -n "$HINT_ID" ] || TW=0
	tui_step "codex connect ... resume ID: the TUI shows the earlier conversation" \
	    screen_wait 'say hello again' $TW
	tui_step "  with the mock model's earlier reply" screen_wait 'Hello from the mock model\.' 1
	[ "$TW" -gt 0 ] && tui_type "recall"
	tui_step "  a new prompt is answered with the thread's history" \
	    screen_wait 'Earlier you said: say hello again\.' $TW
	tui_step "  Ctrl-C quits; exit 0" tui_quit
	resume_hint
	is "$HINT" "codex connect -F $CFG devbox resume $HINT_ID" \
	    "  the hint names \`codex connect\` when run by the wrapper, and the same thread"
	is "$HINT_ID" "$TUI_ID" "  (the thread the TUI was on)"
	RESUMED_ID=$HINT_ID

	# resume --last: the thread last used on the remote.
	TUI_S=tui4
	tmux -S "$T/tmux.sock" new-session -d -s tui4 -x 160 -y 48 \
	    "cd '$T/work' && env CODEX_HOME='$T/tuihome' CODEX_CLI='$CODEX_BIN' TERM=xterm-256color timeout --foreground 120 '$CONNECT' -F '$CFG' devbox resume --last; echo CONNECT-EXITED \$?; sleep 60"
	TW=30
	tui_step "codex-connect HOST resume --last: the TUI on the thread last used" \
	    screen_wait 'Earlier you said: say hello again\.' $TW
	tui_step "  Ctrl-C quits; exit 0" tui_quit
	resume_hint
	is "$HINT" "codex-connect -F $CFG devbox resume $RESUMED_ID" \
	    "  the hint names that thread (and not --last)"

	# The TUI starts a thread at launch, but it is saved only with a first
	# prompt: quit before one, no hint (resuming it would fail).
	TUI_S=tui5
	tmux -S "$T/tmux.sock" new-session -d -s tui5 -x 160 -y 48 \
	    "cd '$T/work' && env CODEX_HOME='$CODEX_HOME' CODEX_CLI='$CODEX_BIN' TERM=xterm-256color timeout --foreground 120 '$CONNECT' -F '$CFG' devbox; echo CONNECT-EXITED \$?; sleep 60"
	TW=30
	tui_step "codex-connect HOST, quit before any prompt" screen_wait 'Ask Codex to do anything' $TW
	tui_step "  Ctrl-C quits; exit 0" tui_quit
	resume_hint
	is "$HINT" "" "  no resume hint: the thread was never saved"
	tmux -S "$T/tmux.sock" kill-server 2>/dev/null
fi
kill -TERM $sock_pid 2>/dev/null
wait $sock_pid
is "$?" 0 "SIGTERM ends the socket front end with status 0"

# ---- (d) the link cut in the middle of a 20,000-delta turn ------------------------

relay_cmd() {
	_relay_n=$(($(grep -c '^ack ' "$T/relay.log") + 1))
	echo "$*" >"$T/relay.ctl"
	kill -USR1 "$RELAY_PID"
	_i=0
	while ! grep -q "^ack $_relay_n " "$T/relay.log" && [ $_i -lt 100 ]; do
		sleep 0.05
		_i=$((_i + 1))
	done
}

if [ -n "$RELAY_PID" ]; then
	# make check-valgrind: under valgrind a new connection may take more than 3 s
	# to answer its first ping, and the first one would be taken for a dead link.
	dead_after=3
	[ -z "${CXS_VALGRIND-}" ] || dead_after=10
	drive deltas 8000 --deltas 20000 --cut-at 4000:cut,12000:stall -- \
	    "$CONNECT" -F "$CFG" relayhost --stdio --ping-interval 1 --dead-after "$dead_after"
	is "$OUT" "OK deltas=20000 cuts=2 exit=0" \
	    "link reset, then black-holed, in a 20,000-delta turn: every delta exactly once, in order, turn/completed"
	is "$(printf '%s\n' "$ERR" | grep -c 'reconnected to relayhost after [0-9.]* s; resuming 1 session')" 2 \
	    "  two reconnects, each resuming the session"
	relay_cmd cut
else
	skip "no $RELAY" 2
fi

if [ -x "$PROBE" ]; then
	run_ok "framed tunnel-probe, the ssh client killed twice in a 20,000-delta turn" \
	    timeout 120 "$PROBE" --deltas 20000 --cut-every 7000 -- ssh -F "$SSH_CONFIG" -s testhost codex
	like "$TAP_OUT" '^OK deltas=20000 cuts=2 resumes=2' "  every delta exactly once, in order, after two resumes"
else
	skip "not built: $PROBE" 2
fi

# ---- (e) the exec-server backend ----------------------------------------------------

drive exec-server --file "$T/work/hello.txt" -- "$CONNECT" -F "$CFG" devbox --backend exec-server --stdio
diag "$OUT"
like "$OUT" '^OK initialize: executor 0\.169\.0' "--backend exec-server: \`codex exec-server --listen stdio\` answers initialize through the tunnel"
like "$OUT" "^OK process: output 'out-42\\\\n', exit code 3" "  process/start runs a command; process/output and process/exited come back"
like "$OUT" "^OK fs/readFile: 'a file read through the exec-server\\\\n'" "  fs/readFile reads a file"
like "$OUT" '^OK exit 0$' "  codex-connect exits 0"
drive exec-server --file "$T/work/hello.txt" -- "$CONNECT" -F "$CFG" devbox exec-server
like "$OUT" "^OK process: output 'out-42\\\\n', exit code 3" \
    "codex-connect HOST exec-server: the same, as an environment's program would run it"

# ---- (f) nobody listens ---------------------------------------------------------------

nolisten_check_user_procs codex-connect codex-subsystem codex >"$T/nl" 2>&1
ok $? "at the end: no codex-connect, codex-subsystem or codex process listens" || diag "$(cat "$T/nl")"
like "$NOLISTEN_FOUND" '[0-9]' "  (the check saw the session host and its app servers: $(echo "$NOLISTEN_FOUND" | wc -w))"

diag "codex-t.sh took $(($(date +%s) - t_start)) s"
done_testing
