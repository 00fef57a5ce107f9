#!/bin/sh
# share-bench.sh - codex-connect's connection sharing (PROTOCOL.md 8) against
# OpenSSH, side by side, on a private sshd on 127.0.0.1 running codex-subsystem
# (the fake app server for A, the real `codex exec-server` for B); the remote
# account is a throw-away user with /bin/sh when run as root (no rc file slowing
# the remote side), else the current user.
#
#   A. connect -> answer, median of --runs runs each, interleaved:
#        codex-connect HOST --stdio    first (no master: -O exit before each run,
#                                      so the run starts one), shared (through a
#                                      running master), and --no-share;
#        ssh HOST true / ssh -s HOST codex (the initialize line on stdin, plain
#                                      JSONL): a new connection with OpenSSH's
#                                      default key exchange and with curve25519
#                                      (what codex-connect negotiates), and the
#                                      second connection of an OpenSSH
#                                      ControlMaster (ControlPersist 60);
#      "true exited" is spawn -> `true` done; "initialize answered" is spawn ->
#      the initialize response on stdout.
#   B. a local `codex app-server` (stdio, @openai/codex@0.169.0, a temporary
#      CODEX_HOME using the mock model of tests/mock-responses.py) with 0, 1 and
#      4 remote environments (`codex-connect -F CFG env add HOST --id envN`, four
#      ids of one host): spawn -> initialize answered (experimentalApi) ->
#      thread/start answered -> every environment `environment/status` "ready",
#      and a second thread/start. Sharing on with no master running (-O exit
#      before each run), sharing on with the master of the previous run, and
#      -o ControlPath=none (one SSH connection per environment). SSH logins per
#      app-server start are counted in sshd's log ("Accepted publickey"). A
#      start where an environment ends up anything but "ready" (the app server
#      gives up on an exec-server handshake after 10 s) is counted as failed,
#      shown with its error, and left out of the medians.
#
#   top_srcdir=.. top_builddir=$PWD sh ../bench/share-bench.sh [--json] [--runs N]
#
# --json prints one JSON object instead of the table; SHARE_BENCH_KEEP=1 keeps
# the work directory (logs) and prints where it is. Needs sshd, ssh, python3;
# B needs the Codex CLI (npm, cached in $top_srcdir/.cache) and is left out
# without it. Everything is bounded: each client by timeout(1) or a deadline,
# sshd and the mock by lifetimes, the driver by timeout(1); at the end the
# masters (ours and OpenSSH's) are told to exit and the remote session host is
# stopped. The default run takes 30-40 s on 2 CPUs (10 s more per failed start).

: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=$PWD}"
# Absolute: the remote user's processes and the app server run elsewhere.
top_srcdir=$(cd "$top_srcdir" && pwd) || exit 1
top_builddir=$(cd "$top_builddir" && pwd) || exit 1
# shellcheck source=tests/lib/sshd.sh
. "$top_srcdir/tests/lib/sshd.sh"
# shellcheck source=tests/lib/users.sh
. "$top_srcdir/tests/lib/users.sh"
# shellcheck source=tests/lib/codex.sh
. "$top_srcdir/tests/lib/codex.sh"

json=0
runs=10
while [ $# -gt 0 ]; do
	case $1 in
	--json) json=1 ;;
	--runs)
		[ $# -ge 2 ] || { echo "share-bench: --runs needs a value" >&2; exit 2; }
		runs=$2; shift ;;
	*) echo "usage: $0 [--json] [--runs N]" >&2; exit 2 ;;
	esac
	shift
done
case $runs in
''|*[!0-9]*|0) echo "share-bench: --runs wants a positive number" >&2; exit 2 ;;
esac

B=$top_builddir
CONNECT=$B/client/codex-connect
SUB=$B/subsystem/codex-subsystem
FAKE=$B/tests/fake-app-server
say() { [ "$json" = 1 ] || echo "$*" >&2; }
die() { echo "share-bench: $*" >&2; exit 1; }

sshd_available || die "$SSHD_WHY"
for f in "$CONNECT" "$SUB" "$FAKE"; do
	[ -x "$f" ] || die "not built: $f (make check builds the fake app server)"
done
command -v python3 >/dev/null 2>&1 || die "python3 not installed"
unset SSH_AUTH_SOCK SSH_AGENT_PID SSH_ASKPASS SSH_ASKPASS_REQUIRE DISPLAY \
    WAYLAND_DISPLAY CODEX_CLI OPENAI_API_KEY CODEX_API_KEY TMUX
if codex_install; then
	CODEX_BIN=$(cd "$(dirname "$CODEX_BIN")" && pwd)/$(basename "$CODEX_BIN")
else
	say "share-bench: part B left out: $CODEX_WHY"
	CODEX_BIN=
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/share-bench.XXXXXX") || die "mktemp failed"
T=$(cd "$T" && pwd)
# 0755: the remote user's home is in it (nothing secret is readable: the
# client key is 0600, the known_hosts and the configs are for the client).
chmod 755 "$T"
if [ "${SHARE_BENCH_KEEP:-0}" = 1 ]; then
	at_exit "echo 'share-bench: kept $T' >&2"
else
	at_exit "rm -rf '$T'"
fi

# The remote account: a throw-away user with /bin/sh as root (the remote side
# then starts no bash reading root's .bashrc), else ourselves.
if [ "$(id -u)" = 0 ] && users_available; then
	U=cxs-shbench
	USERS_FAKE=$FAKE
	users_make "$U" /bin/sh "$T/home" || die "cannot make the user $U"
	as_remote() { su -s /bin/sh "$U" -c "HOME='$T/home' $*"; }
else
	U=$(id -un)
	mkdir -p "$T/home"
	as_remote() { sh -c "$*"; }
fi

if [ -n "$CODEX_BIN" ]; then
	MOCK_LIFETIME=600 codex_mock_start "$T/mock" >/dev/null 2>&1 ||
		die "the mock model did not start"
fi

{
	echo "Backend fake $FAKE"
	[ -n "$CODEX_BIN" ] && echo "Backend exec-server $CODEX_BIN exec-server --listen stdio"
	cat <<CONF
DefaultBackend fake
LoginShell no
RuntimeDir $T/home/run
JournalDir $T/home/journal
LogFile $T/home/subsystem.log
IdleTimeout 60s
CONF
} >"$T/conf"
chmod 644 "$T/conf"
at_exit "as_remote 'timeout 20 $SUB stop -f $T/conf' >/dev/null 2>&1"

# sshd offers OpenSSH's default key exchange too, so each client gets its own.
SSHD_LIFETIME=600 sshd_start "$T/sshd" \
    "KexAlgorithms sntrup761x25519-sha512@openssh.com,curve25519-sha256,curve25519-sha256@libssh.org" \
    "Subsystem codex $SUB -f $T/conf" >/dev/null 2>&1 || die "sshd did not start"
chmod 755 "$T/sshd"
chmod 644 "$SSHD_DIR/authorized_keys"

# Our masters' sockets in cm/ (ControlPath, .cxs appended), OpenSSH's in ocm/.
mkdir -m 700 "$T/cm" "$T/ocm"
# No KexAlgorithms and no LogLevel: each client as it comes. OpenSSH gets
# ControlPath on its command line (none, or ocm/%C for its ControlMaster).
# BatchMode yes: codex-connect, like Debian's ssh, then takes ServerAliveInterval
# 300 (its master's keepalive timer; 5 s without BatchMode).
cat >"$T/cfg" <<EOF
Host benchhost
	HostName 127.0.0.1
	Port $SSHD_PORT
	User $U
	IdentityFile $SSHD_CLIENT_KEY
	IdentitiesOnly yes
	IdentityAgent none
	PreferredAuthentications publickey
	UserKnownHostsFile $SSHD_DIR/known_hosts
	GlobalKnownHostsFile /dev/null
	StrictHostKeyChecking yes
	UpdateHostKeys no
	BatchMode yes
	ControlPath $T/cm/%C
	ControlPersist 60
	ConnectTimeout 10
EOF
chmod 600 "$T/cfg"
CC="$CONNECT -F $T/cfg"
OSSH_MUX="-o ControlMaster=auto -o ControlPath=$T/ocm/%C -o ControlPersist=60"
at_exit "timeout 20 $CC -O exit benchhost >/dev/null 2>&1"
# shellcheck disable=SC2086
at_exit "timeout 20 ssh -F $T/cfg $OSSH_MUX -O exit benchhost >/dev/null 2>&1"

# Which key exchange each client negotiates (ssh -v ends its lines with \r).
kex_cc=$(timeout 30 $CC -vv --no-share benchhost status </dev/null 2>&1 |
    sed -n 's/.*ssh_kex_select_methods: *Negotiated \([^,]*\),.*/\1/p' | head -n 1)
kex_ssh=$(timeout 30 ssh -v -F "$T/cfg" -o ControlPath=none benchhost true </dev/null 2>&1 |
    tr -d '\r' | sed -n 's/.*kex: algorithm: //p' | head -n 1)
kex_ssh25519=$(timeout 30 ssh -v -F "$T/cfg" -o ControlPath=none \
    -o KexAlgorithms=curve25519-sha256 benchhost true </dev/null 2>&1 |
    tr -d '\r' | sed -n 's/.*kex: algorithm: //p' | head -n 1)

# B's CODEX_HOMEs: the mock's config.toml, and 0, 1 or 4 environments added by
# env add, with sharing (ch-share-N) and with -o ControlPath=none (ch-none-N).
if [ -n "$CODEX_BIN" ]; then
	for mode in share none; do
		for n in 0 1 4; do
			[ "$mode" = none ] && [ "$n" = 0 ] && continue
			h=$T/ch-$mode-$n
			codex_write_config "$h" "$MOCK_PORT" || die "cannot write $h/config.toml"
			i=1
			while [ "$i" -le "$n" ]; do
				if [ "$mode" = share ]; then
					CODEX_HOME=$h timeout 20 $CC env add benchhost --id "env$i" >/dev/null
				else
					CODEX_HOME=$h timeout 20 $CC -o ControlPath=none env add benchhost \
					    --id "env$i" >/dev/null
				fi || die "env add failed"
				i=$((i + 1))
			done
		done
	done
fi

cat >"$T/bench.py" <<'EOF'
import json, os, select, statistics, subprocess, sys, time

T, CONNECT, CODEX_BIN = os.environ["T"], os.environ["CONNECT"], os.environ["CODEX_BIN"]
RUNS, SSHD_LOG, USER = int(os.environ["RUNS"]), os.environ["SSHD_LOG"], os.environ["RUSER"]
CFG = T + "/cfg"
HOST = "benchhost"
INIT = (b'{"id":1,"method":"initialize","params":{"clientInfo":'
        b'{"name":"share-bench","version":"1"}}}\n')
ERR = open(T + "/stderr", "ab")
OSSH_MUX = ["-o", "ControlMaster=auto", "-o", "ControlPath=%s/ocm/%%C" % T,
            "-o", "ControlPersist=60"]
OSSH_NEW = ["-o", "ControlMaster=no", "-o", "ControlPath=none"]
CC = [CONNECT, "-F", CFG]

def ms(t0):
    return (time.monotonic() - t0) * 1000

def run(cmd, timeout=30):
    return subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=ERR, timeout=timeout)

class Proc:
    def __init__(self, cmd, env=None, new_session=False):
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=ERR, bufsize=0, env=env, cwd=T,
                                  start_new_session=new_session)
        self.buf = b""
        self.nid = 100
    def send(self, o):
        self.p.stdin.write(o if isinstance(o, bytes) else json.dumps(o).encode() + b"\n")
    def line(self, deadline):
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no answer from %s" % self.p.args[0])
            r, _, _ = select.select([self.p.stdout], [], [], left)
            if r:
                d = os.read(self.p.stdout.fileno(), 1 << 16)
                if not d:
                    raise EOFError("%s exited (%s)" % (self.p.args[0], self.p.wait()))
                self.buf += d
        l, self.buf = self.buf.split(b"\n", 1)
        return json.loads(l)
    def until_id(self, i, deadline):
        while True:
            m = self.line(deadline)
            if m.get("id") == i and "method" not in m:
                if "result" not in m:
                    raise RuntimeError("request %r failed: %r" % (i, m))
                return m["result"]
            if "id" in m and "method" in m:
                raise RuntimeError("unexpected server request %r" % m)
    def request(self, method, params, deadline):
        self.nid += 1
        self.send({"id": self.nid, "method": method, "params": params})
        return self.until_id(self.nid, deadline)
    def close(self, wait=10):
        # Read what is left (a client blocked on its stdout would not exit).
        deadline = time.monotonic() + wait
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

# ---- A: connect -> answer --------------------------------------------------------

def init_answered(cmd):
    t0 = time.monotonic()
    p = Proc(cmd)
    try:
        p.send(INIT)
        p.until_id(1, t0 + 30)
        return ms(t0)
    finally:
        p.close()

def true_exited(cmd):
    t0 = time.monotonic()
    r = run(cmd)
    if r.returncode != 0:
        raise RuntimeError("%r exited %d" % (cmd, r.returncode))
    return ms(t0)

def cc_exit():
    run(CC + ["-O", "exit", HOST], timeout=20)

def ossh_master():
    """An OpenSSH ControlMaster for the second connections (started when none runs)."""
    if run(["ssh", "-F", CFG] + OSSH_MUX + ["-O", "check", HOST]).returncode != 0:
        true_exited(["ssh", "-F", CFG] + OSSH_MUX + [HOST, "true"])

def cc_first():
    cc_exit()
    return init_answered(CC + [HOST, "--stdio"])

def ossh_second(cmd):
    def f():
        ossh_master()
        return cmd()
    return f

SSH_S = [HOST, "-s", "codex"]
clients = [
    # key, how, measure
    ("cc_first", "init", cc_first),
    ("cc_shared", "init", lambda: init_answered(CC + [HOST, "--stdio"])),
    ("cc_noshare", "init", lambda: init_answered(CC + ["--no-share", HOST, "--stdio"])),
    ("ssh_new_true", "true", lambda: true_exited(["ssh", "-F", CFG] + OSSH_NEW + [HOST, "true"])),
    ("ssh_new_init", "init", lambda: init_answered(["ssh", "-F", CFG] + OSSH_NEW + SSH_S)),
    ("ssh25519_new_true", "true", lambda: true_exited(
        ["ssh", "-F", CFG, "-o", "KexAlgorithms=curve25519-sha256"] + OSSH_NEW + [HOST, "true"])),
    ("ssh25519_new_init", "init", lambda: init_answered(
        ["ssh", "-F", CFG, "-o", "KexAlgorithms=curve25519-sha256"] + OSSH_NEW + SSH_S)),
    ("ssh_mux_true", "true", ossh_second(lambda: true_exited(
        ["ssh", "-F", CFG] + OSSH_MUX + [HOST, "true"]))),
    ("ssh_mux_init", "init", ossh_second(lambda: init_answered(
        ["ssh", "-F", CFG] + OSSH_MUX + SSH_S))),
]
A = {k: [] for k, _, _ in clients}
for k, _, f in clients:            # warm-up: the session host starts, caches fill
    f()
for i in range(RUNS):
    for k, _, f in clients:        # interleaved, so drift hits all alike
        A[k].append(f())

# ---- B: a local app server with remote environments ------------------------------

def logins():
    with open(SSHD_LOG, errors="replace") as f:
        return sum(1 for l in f if l.startswith("Accepted publickey for %s " % USER))

def env_clients():
    """Our codex-connect processes other than masters (a master is a session
    leader): the environments' clients."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                a = f.read().split(b"\0")
            with open("/proc/%s/stat" % d) as f:
                st = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if a[0] == CONNECT.encode() and CFG.encode() in a and st[0] not in "ZX" \
                and int(st[3]) != int(d):
            pids.append(int(d))
    return pids

def app_start(home, n):
    t0 = time.monotonic()
    deadline = t0 + 60
    before = logins()
    p = Proc([CODEX_BIN, "app-server"], env=dict(os.environ, CODEX_HOME=home),
             new_session=True)
    envs = ["env%d" % (k + 1) for k in range(n)]
    r = {}
    try:
        p.request("initialize", {"clientInfo": {"name": "share-bench", "version": "1"},
                                 "capabilities": {"experimentalApi": True}}, deadline)
        r["init"] = ms(t0)
        p.send({"method": "initialized"})
        st = [p.request("environment/status", {"environmentId": e}, deadline)["status"]
              for e in envs]
        r["pending_before"] = all(s == "pending" for s in st)
        t1 = time.monotonic()
        th = p.request("thread/start", {}, deadline)
        r["thread"] = ms(t0)
        r["thread_envs"] = sorted(e["environmentId"] for e in th["thread"]["environments"])
        first = True
        while True:
            st = [p.request("environment/status", {"environmentId": e}, deadline)
                  for e in envs]
            if first:
                r["ready_at_thread"] = all(s["status"] == "ready" for s in st)
                first = False
            if all(s["status"] == "ready" for s in st):
                r["ready"] = ms(t0)
                break
            bad = [(e, s) for e, s in zip(envs, st)
                   if s["status"] not in ("pending", "starting", "ready")]
            if bad:
                # Counted as a failed start, left out of the medians.
                r["failed"] = "; ".join("%s %s: %s" % (e, s["status"], s.get("error"))
                                        for e, s in bad)
                break
            time.sleep(0.01)
        if "failed" not in r:
            t2 = time.monotonic()
            p.request("thread/start", {}, deadline)
            r["thread2"] = ms(t2)
    finally:
        p.close(15)
        # The environments' clients end with the app server (at most 2 s each).
        end = time.monotonic() + 10
        while env_clients() and time.monotonic() < end:
            time.sleep(0.02)
        for pid in env_clients():
            os.kill(pid, 9)
    r["logins"] = logins() - before
    return r

Bruns = {}
if CODEX_BIN:
    cases = [("0", T + "/ch-share-0", 0, None)]
    for n in (1, 4):
        cases += [("%d_cold" % n, T + "/ch-share-%d" % n, n, "cold"),
                  ("%d_warm" % n, T + "/ch-share-%d" % n, n, "warm"),
                  ("%d_none" % n, T + "/ch-none-%d" % n, n, None)]
    Bruns = {k: [] for k, _, _, _ in cases}
    for k, h, n, m in cases:       # warm-up
        if m == "cold":
            cc_exit()
        app_start(h, n)
    for i in range(RUNS):
        for k, h, n, m in cases:
            if m == "cold":
                cc_exit()
            ERR.write(b"share-bench: B %s run %d at %.3f\n" % (k.encode(), i, time.time()))
            ERR.flush()
            Bruns[k].append(app_start(h, n))
cc_exit()

def med(v):
    return round(statistics.median(v), 1)

out = {"runs": RUNS, "a": {}, "b": {}}
for k, how, _ in clients:
    v = A[k]
    out["a"][k] = {"median_ms": med(v), "min_ms": round(min(v), 1),
                   "max_ms": round(max(v), 1), "measures": how,
                   "samples_ms": [round(x, 1) for x in v]}
for k, rs in Bruns.items():
    ok = [r for r in rs if "failed" not in r]
    o = {"starts": len(rs), "failed_starts": len(rs) - len(ok)}
    if ok:
        for f in ("init", "thread", "ready", "thread2"):
            o[f + "_ms"] = med([r[f] for r in ok])
        o["ready_min_ms"] = round(min(r["ready"] for r in ok), 1)
        o["ready_max_ms"] = round(max(r["ready"] for r in ok), 1)
    lg = sorted(r["logins"] for r in rs)
    o["sshd_logins_median"] = statistics.median(lg)
    o["sshd_logins_min"], o["sshd_logins_max"] = lg[0], lg[-1]
    o["pending_before_thread_start"] = sum(r["pending_before"] for r in rs)
    o["ready_when_thread_start_answered"] = sum(r.get("ready_at_thread", False) for r in ok)
    o["thread_environments"] = rs[-1]["thread_envs"]
    if len(ok) < len(rs):
        o["failures"] = [{"error": r["failed"], "thread_start_ms": round(r["thread"], 1)}
                         for r in rs if "failed" in r]
    out["b"][k] = o
print(json.dumps(out))
EOF

say "share-bench: sshd on 127.0.0.1:$SSHD_PORT, remote user $U; $runs runs of each..."
res=$(T=$T CONNECT=$CONNECT CODEX_BIN=$CODEX_BIN RUNS=$runs SSHD_LOG=$SSHD_LOG RUSER=$U \
    timeout -k 5 400 python3 "$T/bench.py") ||
	die "the measurement failed: $(tail -n 8 "$T/stderr" 2>/dev/null)"

# What is left of ours once the run is over (the master was told to exit).
timeout 20 $CC -O exit benchhost >/dev/null 2>&1
# shellcheck disable=SC2086
timeout 20 ssh -F "$T/cfg" $OSSH_MUX -O exit benchhost >/dev/null 2>&1

cat >"$T/report.py" <<'EOF'
import json, os, sys
r = json.loads(sys.argv[1])
r["kex"] = {"codex_connect": os.environ["KEX_CC"] or "unknown",
            "openssh": os.environ["KEX_SSH"] or "unknown",
            "openssh_curve25519": os.environ["KEX_SSH25519"] or "unknown"}
r["remote_user"] = os.environ["RUSER"]
a, b = r["a"], r["b"]
r["shared_vs_first"] = round(a["cc_shared"]["median_ms"] / a["cc_first"]["median_ms"], 3)
r["shared_vs_openssh_controlmaster"] = round(a["cc_shared"]["median_ms"] /
                                             a["ssh_mux_init"]["median_ms"], 3)
if os.environ["JSON"] == "1":
    print(json.dumps(r))
    sys.exit(0)

def cell(v, lo, hi, width=22):
    return ("%7.1f %s" % (v, "(%.1f..%.1f)" % (lo, hi))).ljust(width)

def acell(key):
    if key is None:
        return "%7s" % "-" + " " * 15
    v = a[key]
    return cell(v["median_ms"], v["min_ms"], v["max_ms"])

k = r["kex"]
print("A. connect -> answer (ms, median and min..max of %d runs; remote user %s)"
      % (r["runs"], r["remote_user"]))
print("  %-41s %-22s %-22s %s" % ("client", "  `true` exited", "  initialize answered",
                                  "key exchange"))
rows = [
    ("codex-connect, first (starts the master)", None, "cc_first", k["codex_connect"]),
    ("codex-connect, shared (master running)", None, "cc_shared", "- (a channel)"),
    ("codex-connect --no-share", None, "cc_noshare", k["codex_connect"]),
    ("ssh, new connection (OpenSSH default)", "ssh_new_true", "ssh_new_init", k["openssh"]),
    ("ssh, new connection (curve25519)", "ssh25519_new_true", "ssh25519_new_init",
     k["openssh_curve25519"]),
    ("ssh, ControlMaster's second connection", "ssh_mux_true", "ssh_mux_init",
     "- (a channel)"),
]
for name, t, i, kx in rows:
    print("  %-41s %s %s %s" % (name, acell(t), acell(i), kx))
print("  ssh: `ssh HOST true`, and `ssh -s HOST codex` with initialize on stdin (plain JSONL);")
print("  codex-connect HOST --stdio (framed). Shared / first %.2f; shared / OpenSSH's second"
      % r["shared_vs_first"])
print("  connection %.2f (the master's spare channel makes a shared connect no round trip"
      % r["shared_vs_openssh_controlmaster"])
print("  to sshd: PROTOCOL.md 8)")
slow = ["%s %.0f ms" % (key, x) for key in a for x in a[key].get("samples_ms", []) if x >= 1000]
if slow:
    print("  samples of 1 s or more: %s" % ", ".join(slow))
if not b:
    print("B. left out (no Codex CLI)")
    sys.exit(0)
print()
print("B. local `codex app-server` (stdio) with N remote environments of one host: ms from")
print("   spawn (median of %d; all ready: min..max); logins: sshd \"Accepted publickey\""
      " per start" % r["runs"])
print("  %-4s %-26s %6s %13s  %-21s %11s %7s %6s" % ("N", "sharing", "init", "thread/start",
      "  all ready", "2nd thread", "logins", "failed"))
names = {"0": "-", "1_cold": "on, no master running", "1_warm": "on, master running",
         "1_none": "off (-o ControlPath=none)", "4_cold": "on, no master running",
         "4_warm": "on, master running", "4_none": "off (-o ControlPath=none)"}
failures = []
for key in ("0", "1_cold", "1_warm", "1_none", "4_cold", "4_warm", "4_none"):
    v = b[key]
    lg = "%g" % v["sshd_logins_median"]
    if v["sshd_logins_min"] != v["sshd_logins_max"]:
        lg += " (%d..%d)" % (v["sshd_logins_min"], v["sshd_logins_max"])
    failures += [(key[0], names[key], f) for f in v.get("failures", [])]
    if "init_ms" not in v:
        print("  %-4s %-26s %6s %13s  %7s %13s %11s %7s %6d" % (key[0], names[key], "-", "-",
              "-", "", "-", lg, v["failed_starts"]))
        continue
    ready = "%7s" % "-" + " " * 14 if key == "0" else \
        cell(v["ready_ms"], v["ready_min_ms"], v["ready_max_ms"], 21)
    print("  %-4s %-26s %6.1f %13.1f  %s %11.1f %7s %6d" % (key[0], names[key], v["init_ms"],
          v["thread_ms"], ready, v["thread2_ms"], lg, v["failed_starts"]))
nb = [x for x in b if x != "0"]
pend = sum(b[x]["pending_before_thread_start"] for x in nb)
rdy = sum(b[x]["ready_when_thread_start_answered"] for x in nb)
nall = sum(b[x]["starts"] for x in nb)
nok = nall - sum(b[x]["failed_starts"] for x in nb)
print("  environment/status between initialize and thread/start: \"pending\" in %d of %d"
      % (pend, nall))
print("  starts; \"ready\" once thread/start is answered in %d of %d (the successful ones):"
      % (rdy, nok))
print("  the app server starts its environments at the first thread/start, not at start-up,")
print("  all of them (the thread gets %s); a 2nd thread/start"
      % ", ".join(b["4_cold"]["thread_environments"]))
print("  reuses them. Failed starts are left out of the medians:")
for n, name, f in failures:
    print("    %s env, sharing %s: thread/start answered after %.0f ms; %s"
          % (n, name, f["thread_start_ms"], f["error"]))
if not failures:
    print("    (none)")
EOF
KEX_CC=$kex_cc KEX_SSH=$kex_ssh KEX_SSH25519=$kex_ssh25519 JSON=$json RUSER=$U \
    python3 "$T/report.py" "$res"
