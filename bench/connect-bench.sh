#!/bin/sh
# connect-bench.sh - codex-connect against OpenSSH, side by side, on a private sshd
# on 127.0.0.1 running codex-subsystem with the fake app server:
#
#   connect: a cold SSH connection up to the `initialize` response, through
#            `codex-connect HOST --stdio` (framed mode) and through
#            `ssh -s HOST codex` (plain mode) with OpenSSH's default key exchange
#            and with curve25519 (what codex-connect negotiates), median of
#            --runs runs each, interleaved;
#   resume:  a test relay between the client and sshd refuses connections for
#            --outage seconds in the middle of a turn, then lets them through
#            again; measured from that moment to the first message of the turn
#            after the cut (median of --resume-runs runs). Also shown: from the
#            relay accepting the new connection to that message (the handshake
#            and resume alone, without the reconnect backoff).
#
# Goals: connect <= 1.1 x OpenSSH with the same key exchange; resume <= 1 s.
#
#   top_srcdir=.. top_builddir=$PWD sh ../bench/connect-bench.sh [--json]
#       [--runs N] [--resume-runs N] [--outage SECONDS]
#
# --json prints one JSON object instead of the table. Needs sshd, ssh and python3.
# Everything is bounded: each run by timeout(1), sshd and the relay by lifetimes.

: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=$PWD}"
. "$top_srcdir/tests/lib/sshd.sh"

json=0
runs=10
resume_runs=5
outage=2
while [ $# -gt 0 ]; do
	case $1 in
	--json) json=1 ;;
	--runs) runs=$2; shift ;;
	--resume-runs) resume_runs=$2; shift ;;
	--outage) outage=$2; shift ;;
	*) echo "usage: $0 [--json] [--runs N] [--resume-runs N] [--outage S]" >&2; exit 2 ;;
	esac
	shift
done

B=$top_builddir
CONNECT=$B/client/codex-connect
SUB=$B/subsystem/codex-subsystem
FAKE=$B/tests/fake-app-server
say() { [ "$json" = 1 ] || echo "$*" >&2; }
die() { echo "connect-bench: $*" >&2; exit 1; }

sshd_available || die "$SSHD_WHY"
for f in "$CONNECT" "$SUB" "$FAKE"; do
	[ -x "$f" ] || die "not built: $f (make check builds the fake app server)"
done
command -v python3 >/dev/null 2>&1 || die "python3 not installed"
unset SSH_AUTH_SOCK SSH_AGENT_PID SSH_ASKPASS DISPLAY WAYLAND_DISPLAY

T=$(mktemp -d "${TMPDIR:-/tmp}/cxb.XXXXXX") || die "mktemp failed"
chmod 700 "$T"
at_exit "rm -rf '$T'"
cat >"$T/conf" <<CONF
Backend fake $FAKE
DefaultBackend fake
LoginShell no
RuntimeDir $T/run-%i
JournalDir $T/journal-%i
LogFile $T/log-%i
CONF
at_exit "$SUB stop -f $T/conf >/dev/null 2>&1"

# sshd offers OpenSSH's default key exchange too, so each client gets its own.
SSHD_LIFETIME=900 sshd_start "$T/sshd" \
    "KexAlgorithms sntrup761x25519-sha512@openssh.com,curve25519-sha256,curve25519-sha256@libssh.org" \
    "Subsystem codex $SUB -f $T/conf" >/dev/null 2>&1 || die "sshd did not start"

relay_start "$T" 600 || die "the relay did not start"
sshd_known_hosts "$T/known_hosts" "$SSHD_PORT" "$RELAY_PORT"
# No KexAlgorithms and no LogLevel: each client as it comes.
cat >"$T/cfg" <<EOF
Host benchhost
	HostName 127.0.0.1
	Port $SSHD_PORT
Host relayhost
	HostName 127.0.0.1
	Port $RELAY_PORT
Host *
	User $SSHD_USER
	IdentityFile $SSHD_CLIENT_KEY
	IdentitiesOnly yes
	IdentityAgent none
	PreferredAuthentications publickey
	UserKnownHostsFile $T/known_hosts
	GlobalKnownHostsFile /dev/null
	StrictHostKeyChecking yes
	UpdateHostKeys no
	BatchMode yes
	ControlMaster no
	ControlPath none
	ConnectTimeout 10
EOF
chmod 600 "$T/cfg"

# Which key exchange each client negotiates (ssh -v ends its lines with \r).
kex_cc=$(timeout 30 "$CONNECT" -vv -F "$T/cfg" benchhost status </dev/null 2>&1 |
    sed -n 's/.*ssh_kex_select_methods: *Negotiated \([^,]*\),.*/\1/p' | head -n 1)
kex_ssh=$(timeout 30 ssh -v -F "$T/cfg" benchhost true </dev/null 2>&1 |
    tr -d '\r' | sed -n 's/.*kex: algorithm: //p' | head -n 1)
kex_ssh25519=$(timeout 30 ssh -v -F "$T/cfg" -o KexAlgorithms=curve25519-sha256 \
    benchhost true </dev/null 2>&1 | tr -d '\r' | sed -n 's/.*kex: algorithm: //p' |
    head -n 1)

cat >"$T/bench.py" <<'EOF'
import json, os, select, signal, statistics, subprocess, sys, time

T, CONNECT = os.environ["T"], os.environ["CONNECT"]
RUNS, RESUME_RUNS = int(os.environ["RUNS"]), int(os.environ["RESUME_RUNS"])
OUTAGE, RELAY_PID = float(os.environ["OUTAGE"]), int(os.environ["RELAY_PID"])
CFG = T + "/cfg"
INIT = b'{"id":1,"method":"initialize","params":{"clientInfo":{"name":"bench","version":"1"}}}\n'

class Proc:
    def __init__(self, cmd):
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=open(T + "/stderr", "ab"), bufsize=0)
        self.buf = b""
    def send(self, o):
        self.p.stdin.write(o if isinstance(o, bytes) else json.dumps(o).encode() + b"\n")
    def line(self, deadline):
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no answer")
            r, _, _ = select.select([self.p.stdout], [], [], left)
            if r:
                d = os.read(self.p.stdout.fileno(), 1 << 16)
                if not d:
                    raise EOFError("the client exited (%s)" % self.p.wait())
                self.buf += d
        l, self.buf = self.buf.split(b"\n", 1)
        return json.loads(l)
    def until_id(self, i, deadline):
        while True:
            m = self.line(deadline)
            if m.get("id") == i:
                return m
    def close(self):
        # Read what is left (a client blocked on its stdout would not exit).
        deadline = time.monotonic() + 10
        try:
            self.p.stdin.close()
            while time.monotonic() < deadline:
                if select.select([self.p.stdout], [], [], 0.2)[0] and \
                        not os.read(self.p.stdout.fileno(), 1 << 16):
                    break
            self.p.wait(max(0.1, deadline - time.monotonic()))
        except Exception:
            self.p.kill()
            self.p.wait()

def connect_once(cmd):
    t0 = time.monotonic()
    p = Proc(cmd)
    p.send(INIT)
    try:
        m = p.until_id(1, t0 + 30)
        if "result" not in m:
            raise RuntimeError("initialize failed: %r" % m)
        return (time.monotonic() - t0) * 1000
    finally:
        p.close()

clients = {
    "codex_connect": [CONNECT, "-F", CFG, "benchhost", "--stdio"],
    "openssh": ["ssh", "-F", CFG, "-s", "benchhost", "codex"],
    "openssh_curve25519": ["ssh", "-F", CFG, "-o", "KexAlgorithms=curve25519-sha256",
                           "-s", "benchhost", "codex"],
}
times = {k: [] for k in clients}
for k, cmd in clients.items():      # warm-up: the session host starts, caches fill
    connect_once(cmd)
for i in range(RUNS):
    for k, cmd in clients.items():  # interleaved, so drift hits all alike
        times[k].append(connect_once(cmd))

def relay(words):
    with open(T + "/relay.ctl", "w") as f:
        f.write(words + "\n")
    os.kill(RELAY_PID, signal.SIGUSR1)

def relay_event(prefix, after):
    """Monotonic time of the first relay log line starting with prefix after `after`."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with open(T + "/relay.log") as f:
            for l in f:
                w = l.split()
                if l.startswith(prefix) and w[-1].startswith("at="):
                    t = float(w[-1][3:])
                    if t > after:
                        return t
        time.sleep(0.01)
    raise TimeoutError("relay: no %r" % prefix)

resume, handshake = [], []
for i in range(RESUME_RUNS):
    deadline = time.monotonic() + OUTAGE + 60
    p = Proc([CONNECT, "-F", CFG, "relayhost", "--stdio", "--ping-interval", "1",
              "--dead-after", "3", "--give-up", "60"])
    try:
        p.send(INIT)
        p.until_id(1, deadline)
        p.send({"method": "initialized"})
        p.send({"id": 2, "method": "thread/start", "params": {}})
        tid = p.until_id(2, deadline)["result"]["thread"]["id"]
        n = int(1000 * (OUTAGE + 30))
        p.send({"id": 3, "method": "turn/start", "params": {"threadId": tid, "input": [
            {"type": "text", "text": "deltas=%d rate=1000" % n}]}})
        k = 0
        while k < 500:
            m = p.line(deadline)
            if m.get("method") == "item/agentMessage/delta":
                k += 1
        t_cut = time.monotonic()
        relay("refuse cut")
        # What came before the cut is still being written out: drain it
        # (0.2 s of quiet) during the outage, then let the link come back.
        t_end = t_cut + OUTAGE
        while time.monotonic() < t_end:
            if select.select([p.p.stdout], [], [], 0.2)[0]:
                if not os.read(p.p.stdout.fileno(), 1 << 16):
                    raise EOFError("the client exited during the outage")
        while select.select([p.p.stdout], [], [], 0.2)[0]:
            if not os.read(p.p.stdout.fileno(), 1 << 16):
                raise EOFError("the client exited during the outage")
        p.buf = b""
        t_open = time.monotonic()
        relay("open")
        t_open = relay_event("ack", t_open - 0.001)
        # The first whole message after the cut.
        while True:
            d = os.read(p.p.stdout.fileno(), 1 << 16) if select.select(
                [p.p.stdout], [], [], max(0, deadline - time.monotonic()))[0] else b""
            if not d:
                raise TimeoutError("no message after the link came back")
            p.buf += d
            if b"\n" in p.buf:
                break
        t_first = time.monotonic()
        t_acc = relay_event("accept", t_open)
        resume.append((t_first - t_open) * 1000)
        handshake.append((t_first - t_acc) * 1000)
    finally:
        p.close()

med = lambda v: round(statistics.median(v), 1)
out = {
    "connect_ms_codex_connect": med(times["codex_connect"]),
    "connect_ms_openssh": med(times["openssh"]),
    "connect_ms_openssh_curve25519": med(times["openssh_curve25519"]),
    "connect_min_max_ms": {k: [round(min(v), 1), round(max(v), 1)] for k, v in times.items()},
    "resume_ms": med(resume),
    "resume_after_accept_ms": med(handshake),
    "resume_min_max_ms": [round(min(resume), 1), round(max(resume), 1)],
    "runs": RUNS, "resume_runs": RESUME_RUNS, "outage_s": OUTAGE,
}
print(json.dumps(out))
EOF

say "connect-bench: $runs cold connects per client, $resume_runs resumes (outage ${outage} s)..."
res=$(T=$T CONNECT=$CONNECT RUNS=$runs RESUME_RUNS=$resume_runs OUTAGE=$outage \
    RELAY_PID=$RELAY_PID timeout 600 python3 "$T/bench.py") ||
    die "the measurement failed: $(tail -n 5 "$T/stderr" 2>/dev/null)"

KEX_CC=$kex_cc KEX_SSH=$kex_ssh KEX_SSH25519=$kex_ssh25519 JSON=$json python3 -c '
import json, os, sys
r = json.loads(sys.argv[1])
r["kex_codex_connect"] = os.environ["KEX_CC"] or "unknown"
r["kex_openssh"] = os.environ["KEX_SSH"] or "unknown"
r["kex_openssh_curve25519"] = os.environ["KEX_SSH25519"] or "unknown"
ratio = r["connect_ms_codex_connect"] / r["connect_ms_openssh_curve25519"]
ratio_def = r["connect_ms_codex_connect"] / r["connect_ms_openssh"]
r["connect_ratio_same_kex"] = round(ratio, 3)
r["connect_ratio_openssh_default"] = round(ratio_def, 3)
r["goal_connect_met"] = ratio <= 1.1
r["goal_resume_met"] = r["resume_ms"] <= 1000
if os.environ["JSON"] == "1":
    print(json.dumps(r))
    sys.exit(0)
mm = r["connect_min_max_ms"]
print("cold connect -> initialize response (median of %d; min..max)" % r["runs"])
print("  %-34s %8s %16s  %s" % ("client", "median", "min..max", "key exchange"))
for name, k, kex in (("codex-connect --stdio", "codex_connect", r["kex_codex_connect"]),
                     ("ssh -s codex (OpenSSH default)", "openssh", r["kex_openssh"]),
                     ("ssh -s codex (curve25519)", "openssh_curve25519",
                      r["kex_openssh_curve25519"])):
    print("  %-34s %6.1f ms %7.1f..%-7.1f  %s" % (name, r["connect_ms_" + k], mm[k][0],
                                              mm[k][1], kex))
print("resume after the link comes back (outage %g s, median of %d)" % (r["outage_s"],
      r["resume_runs"]))
print("  link back -> first message        %6.1f ms  (%.1f..%.1f)" % (r["resume_ms"],
      r["resume_min_max_ms"][0], r["resume_min_max_ms"][1]))
print("  relay accept -> first message     %6.1f ms  (handshake + resume, no backoff)"
      % r["resume_after_accept_ms"])
print("goals")
print("  connect <= 1.1 x OpenSSH, same KEX   %.2f x  %s   (vs OpenSSH default KEX: %.2f x)"
      % (ratio, "met" if r["goal_connect_met"] else "NOT MET", ratio_def))
print("  resume <= 1 s                       %6.1f ms  %s" % (r["resume_ms"],
      "met" if r["goal_resume_met"] else "NOT MET"))
' "$res"
