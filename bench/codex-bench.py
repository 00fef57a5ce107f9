#!/usr/bin/env python3
"""codex-bench.py - the comparative benchmark's driver (python3, stdlib only).

bench/codex-bench.sh sets up the private sshd, the mock model and the
codex-subsystem configuration, then runs this with the paths to use. Every path
ends at the same real `codex app-server` (same binary, same CODEX_HOME, same
mock, same prompts) through the same sshd:

    exec           ssh HOST 'CODEX_HOME=... codex app-server'      (stdio JSONL)
    desktop_proxy  ssh HOST 'codex app-server proxy --sock SOCK' to a
                   `codex app-server --listen unix://SOCK` daemon (WebSocket,
                   spoken by this driver through the ssh pipe)
    plain          codex-connect HOST --stdio --plain
    framed         codex-connect HOST --stdio --no-compress
    framed_zlib    codex-connect HOST --stdio
    raw            ssh -s HOST raw   (Subsystem raw /bin/cat: the ceiling; the
                   recorded bytes of the same turns are echoed)

and two references that are not rows: `codex app-server` on local stdio (no
SSH at all) and exec with OpenSSH pinned to curve25519-sha256 (the key exchange
codex-connect negotiates; OpenSSH's default is sntrup761x25519).

Order of work: the local reference (its two turns are recorded; raw replays
them); cold connects, one warm-up then --connects per path, interleaved; then
--rounds rounds, each path in turn (the order rotates), of one session each:
connect, --rtt-n small requests, a 'deltas=N' turn and a 'bigout' turn (a
command printing 1,000,000 bytes), with the wire bytes, CPU and peak RSS of that
session; then --resumes reconnects per path. Before the RTT and the delta turn
it waits (bounded) for idle CPUs, since other work on the machine skews them.

How each figure is taken is in the printed notes and in the JSON's "method".
Wire bytes come from the kernel's counters of the client's TCP connection (the
same method for OpenSSH and for codex-connect, which runs libssh in-process), so
they include SSH's packet overhead. All waits are bounded; the caller runs this
under timeout(1) as well.
"""
import argparse
import base64
import zlib
import json
import os
import re
import select
import signal
import statistics
import subprocess
import sys
import time

PATHS = ["exec", "desktop_proxy", "plain", "framed", "framed_zlib", "raw"]
CC_FLAGS = {"plain": ["--plain"], "framed": ["--no-compress"], "framed_zlib": []}
DELTA = b'"item/agentMessage/delta"'
A = None            # parsed arguments
ODD = []            # anything unexpected seen on the way (reported, not fatal)
LOG = None          # the clients' stderr
DEVNULL = subprocess.DEVNULL


def now():
    return time.monotonic()


def say(msg):
    if not A.json:
        sys.stderr.write(msg + "\n")
        sys.stderr.flush()


class Fail(Exception):
    pass


class Timeout(Fail):
    pass


# ---- processes ------------------------------------------------------------------

def proc_table():
    """{pid: (ppid, cmdline as a list)} of every process we can see."""
    t = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d, "rb") as f:
                st = f.read()
            with open("/proc/%s/cmdline" % d, "rb") as f:
                cmd = [c.decode(errors="replace") for c in f.read().split(b"\0") if c]
        except OSError:
            continue
        rest = st[st.rfind(b")") + 2:].split()
        if rest[0] in (b"Z", b"X"):
            continue
        t[int(d)] = (int(rest[1]), cmd)
    return t


def descendants(t, root):
    kids = {}
    for pid, (pp, _) in t.items():
        kids.setdefault(pp, []).append(pid)
    out, todo = [], list(kids.get(root, []))
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def vm_hwm_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for l in f:
                if l.startswith("VmHWM:"):
                    return int(l.split()[1])
    except OSError:
        pass
    return None


def has_our_home(pid):
    try:
        with open("/proc/%d/environ" % pid, "rb") as f:
            return (b"CODEX_HOME=" + A.codex_home.encode()) in f.read().split(b"\0")
    except OSError:
        return False


def real_daemon_pid(pid):
    """The codex process under timeout(1) (the pid the shell knows)."""
    t = proc_table()
    for _ in range(3):
        cmd = t.get(pid, (0, []))[1]
        if cmd and os.path.basename(cmd[0]) == "codex":
            return pid
        kids = [k for k, (pp, _) in t.items() if pp == pid]
        if not kids:
            return pid
        pid = kids[0]
    return pid


def is_app_server(cmd):
    return len(cmd) >= 2 and os.path.basename(cmd[0]) == "codex" and \
        "app-server" in cmd[1:3] and "proxy" not in cmd and \
        not any(c.startswith("--listen") for c in cmd)


def our_app_servers():
    """Pids of app servers of this benchmark (CODEX_HOME), not the daemon."""
    return [pid for pid, (_, cmd) in proc_table().items()
            if is_app_server(cmd) and has_our_home(pid)]


def settle(timeout=8.0):
    """Waits until no app server of a finished session runs (they exit after
    their client; the session host's grace is 3 s), then a moment of quiet."""
    end = now() + timeout
    while our_app_servers() and now() < end:
        time.sleep(0.05)
    time.sleep(0.15)


QUIET = {"waited": 0.0}


def cpu_idle(interval):
    """The machine's idle fraction over interval seconds (/proc/stat)."""
    def snap():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return v[3] + v[4], sum(v)
    i0, t0 = snap()
    time.sleep(interval)
    i1, t1 = snap()
    return (i1 - i0) / max(1, t1 - t0)


def quiet(max_wait=4.0):
    """Other work on this machine (other users, test suites) skews throughput:
    before a measured turn, wait (at most max_wait s, at most A.quiet_budget s
    in all) until the CPUs are mostly idle for 0.3 s."""
    end = now() + max_wait
    t0 = now()
    while now() < end and QUIET["waited"] + (now() - t0) < A.quiet_budget:
        if cpu_idle(0.3) >= 0.85:
            break
    QUIET["waited"] += now() - t0


def host_pid():
    try:
        r = subprocess.run([A.sub, "status", "--json", "-f", A.conf], capture_output=True,
                           timeout=10)
        return json.loads(r.stdout or b"{}").get("host_pid")
    except (subprocess.SubprocessError, ValueError, OSError):
        return None


def stop_host():
    """Stops the session host, so the next framed session starts a fresh one
    (its peak RSS is then that session's)."""
    hp = host_pid()
    if hp is None:
        return
    subprocess.run([A.sub, "stop", "-f", A.conf], stdout=DEVNULL, stderr=DEVNULL, timeout=10)
    end = now() + 8
    while now() < end and os.path.exists("/proc/%d" % hp) and \
            proc_table().get(hp) is not None:
        time.sleep(0.05)


def transport_procs(path, client_pid):
    """{pid: role} of the processes of a session of path: "client" (ssh,
    codex-connect, or the local app server), "sshd" (sshd's session processes:
    common to every path, but their work is not), "server" (what runs between
    sshd and the app server: codex-subsystem and its session host, the proxy,
    cat) and "app" (the app server)."""
    t = proc_table()
    roles = {client_pid: "client"}
    pids = descendants(t, A.sshd_pid)
    if path in ("framed", "framed_zlib"):
        hp = host_pid()
        if hp:
            pids += [hp] + descendants(t, hp)
    for pid in set(pids):
        cmd = t.get(pid, (0, []))[1]
        if not cmd or pid == client_pid:
            continue
        base = os.path.basename(cmd[0])
        if base.startswith("sshd") or cmd[0].startswith("sshd"):
            roles[pid] = "sshd"
        elif is_app_server(cmd):
            roles[pid] = "app"
        elif base == "codex" or "codex-subsystem" in base or base == "cat":
            roles[pid] = "server"
    if path == "desktop_proxy" and A.daemon_pid:
        roles[A.daemon_pid] = "app"
    return roles


def rss_of(path, client_pid):
    """Peak RSS (VmHWM, KiB) now, summed by role (sshd left out: the same for
    every path)."""
    out = {"client": 0, "server": 0, "app_server": 0}
    for pid, role in transport_procs(path, client_pid).items():
        if role != "sshd":
            out["app_server" if role == "app" else role] += vm_hwm_kb(pid) or 0
    return out


TICK = os.sysconf("SC_CLK_TCK")


def cpu_ticks(pid):
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            st = f.read()
        v = st[st.rfind(b")") + 2:].split()
        return int(v[11]) + int(v[12])
    except (OSError, IndexError, ValueError):
        return None


def cpu_snapshot(path, client_pid):
    """{pid: (role, ticks)} plus this driver's own CPU time."""
    snap = {}
    for pid, role in transport_procs(path, client_pid).items():
        t = cpu_ticks(pid)
        if t is not None:
            snap[pid] = (role, t)
    tm = os.times()
    return snap, tm.user + tm.system


def cpu_used(a, b):
    """CPU milliseconds by role between two snapshots (a process that started in
    between counts from zero; one that ended is not seen)."""
    (sa, da), (sb, db) = a, b
    out = {"client": 0.0, "sshd": 0.0, "server": 0.0, "app": 0.0}
    for pid, (role, t) in sb.items():
        t0 = sa.get(pid, (role, 0))[1]
        out[role] += (t - t0) * 1000.0 / TICK
    out["driver"] = (db - da) * 1000.0
    return out


def tcp_counters(pid):
    """(bytes sent, bytes received) by the TCP connection of process pid to sshd,
    from the kernel (ss -ti): SSH packets after encryption, without TCP/IP headers."""
    try:
        r = subprocess.run(["ss", "-tinpH", "state", "established",
                            "( dport = :%d )" % A.sshd_port],
                           capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    blocks = re.split(r"\n(?=\S)", r.stdout)
    for b in blocks:
        if re.search(r"pid=%d," % pid, b):
            s = re.search(r"bytes_sent:(\d+)", b) or re.search(r"bytes_acked:(\d+)", b)
            rcv = re.search(r"bytes_received:(\d+)", b)
            sin = re.search(r"data_segs_in:(\d+)", b)
            sout = re.search(r"data_segs_out:(\d+)", b)
            if s and rcv:
                return (int(s.group(1)), int(rcv.group(1)), int(sin.group(1)) if sin else 0,
                        int(sout.group(1)) if sout else 0)
    return None


# ---- clients ----------------------------------------------------------------------

class Client:
    """A process (ssh, codex-connect, or a local app server) whose stdin and
    stdout carry JSON-RPC: JSONL, or WebSocket frames when ws is set."""

    def __init__(self, cmd, ws=False, deadline=None):
        self.t0 = now()
        self.cmd = cmd
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=LOG, bufsize=0, start_new_session=True)
        self.fin = self.p.stdin.fileno()
        self.fout = self.p.stdout.fileno()
        self.rbuf = bytearray()
        self.pending = []
        self.ws = ws
        self.frag = None
        self.closed = False
        self.pipe_in = 0          # bytes read from the client's stdout
        self.pipe_out = 0         # bytes written to its stdin
        self.nid = 1000
        if ws:
            self.ws_handshake(deadline or now() + 30)

    # -- raw pipe --
    def write(self, data, deadline=None):
        deadline = deadline or now() + 30
        mv = memoryview(data)
        while mv:
            left = deadline - now()
            if left <= 0:
                raise Fail("writing to %s timed out" % self.cmd[0])
            _, w, _ = select.select([], [self.fin], [], left)
            if w:
                try:
                    n = os.write(self.fin, mv[:1 << 16])
                except BrokenPipeError:
                    raise Fail("%s closed its stdin (status %s)" % (
                        os.path.basename(self.cmd[0]), self.p.poll()))
                self.pipe_out += n
                mv = mv[n:]

    def read_some(self, deadline):
        left = deadline - now()
        if left <= 0:
            raise Timeout("timed out waiting for %s" % os.path.basename(self.cmd[0]))
        r, _, _ = select.select([self.fout], [], [], left)
        if not r:
            raise Timeout("timed out waiting for %s" % os.path.basename(self.cmd[0]))
        d = os.read(self.fout, 1 << 18)
        if not d:
            raise Fail("%s closed its stdout (status %s)" % (
                os.path.basename(self.cmd[0]), self.p.poll()))
        self.pipe_in += len(d)
        return d

    # -- WebSocket (client side: masked frames) --
    def ws_handshake(self, deadline):
        key = base64.b64encode(os.urandom(16)).decode()
        self.write(("GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
                    "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                    "Sec-WebSocket-Version: 13\r\n\r\n" % key).encode(), deadline)
        while b"\r\n\r\n" not in self.rbuf:
            self.rbuf += self.read_some(deadline)
        head, _, rest = bytes(self.rbuf).partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            raise Fail("WebSocket upgrade refused: %r" % head[:200])
        self.rbuf = bytearray(rest)

    def ws_frame(self, payload, op=1):
        mask = os.urandom(4)
        n = len(payload)
        if n < 126:
            h = bytes([0x80 | op, 0x80 | n])
        elif n < 65536:
            h = bytes([0x80 | op, 0xFE]) + n.to_bytes(2, "big")
        else:
            h = bytes([0x80 | op, 0xFF]) + n.to_bytes(8, "big")
        m = (mask * (n // 4 + 1))[:n]
        body = (int.from_bytes(payload, "big") ^ int.from_bytes(m, "big")).to_bytes(n, "big") \
            if n else b""
        return h + mask + body

    def ws_parse(self):
        out = []
        b = self.rbuf
        i, n = 0, len(b)
        while n - i >= 2:
            b0, b1 = b[i], b[i + 1]
            ln, j = b1 & 0x7F, i + 2
            if ln == 126:
                if n - j < 2:
                    break
                ln, j = int.from_bytes(b[j:j + 2], "big"), j + 2
            elif ln == 127:
                if n - j < 8:
                    break
                ln, j = int.from_bytes(b[j:j + 8], "big"), j + 8
            mk = None
            if b1 & 0x80:
                if n - j < 4:
                    break
                mk, j = bytes(b[j:j + 4]), j + 4
            if n - j < ln:
                break
            payload = bytes(b[j:j + ln])
            if mk:
                m = (mk * (ln // 4 + 1))[:ln]
                payload = (int.from_bytes(payload, "big") ^
                           int.from_bytes(m, "big")).to_bytes(ln, "big")
            i = j + ln
            op, fin = b0 & 0x0F, b0 & 0x80
            if op == 1 or (op == 0 and self.frag is not None):
                if op == 1:
                    self.frag = payload
                else:
                    self.frag += payload
                if fin:
                    out.append(self.frag)
                    self.frag = None
            elif op == 9:
                self.write(self.ws_frame(payload, 10))
            elif op == 8:
                self.closed = True
        del b[:i]
        return out

    # -- messages --
    def send(self, obj):
        data = obj if isinstance(obj, bytes) else json.dumps(obj, separators=(",", ":")).encode()
        if self.ws:
            self.write(self.ws_frame(data.rstrip(b"\n")))
        else:
            self.write(data if data.endswith(b"\n") else data + b"\n")

    def batch(self, deadline):
        """The next messages (at least one), as bytes, in order."""
        if self.pending:
            out, self.pending = self.pending, []
            return out
        while True:
            d = self.read_some(deadline)
            if self.ws:
                self.rbuf += d
                out = self.ws_parse()
                if self.closed and not out:
                    raise Fail("the WebSocket was closed by the server")
            else:
                k = d.rfind(b"\n")
                if k < 0:
                    self.rbuf += d
                    continue
                if self.rbuf:
                    self.rbuf += d[:k]
                    out = bytes(self.rbuf).split(b"\n")
                    self.rbuf = bytearray(d[k + 1:])
                else:
                    out = d[:k].split(b"\n")
                    self.rbuf = bytearray(d[k + 1:])
            if out:
                return out

    def recv(self, deadline):
        b = self.batch(deadline)
        m, self.pending = b[0], b[1:] + self.pending
        return m

    def request(self, method, params, deadline):
        self.nid += 1
        i = self.nid
        self.send({"id": i, "method": method, "params": params})
        return self.answer(i, deadline)

    def answer(self, i, deadline):
        key = b'"id":%d' % i
        while True:
            m = self.recv(deadline)
            if key in m:
                o = json.loads(m)
                if o.get("id") == i and "method" not in o:
                    if "result" not in o:
                        raise Fail("request %d failed: %r" % (i, o))
                    return o["result"]

    def close(self, timeout=10):
        """stdin EOF, then read what is left until the process exits."""
        end = now() + timeout
        try:
            self.p.stdin.close()
        except OSError:
            pass
        try:
            while now() < end:
                r, _, _ = select.select([self.fout], [], [], 0.2)
                if r and not os.read(self.fout, 1 << 18):
                    break
                if self.p.poll() is not None and not r:
                    break
            rc = self.p.wait(max(0.1, end - now()))
            if rc != 0:
                ODD.append("%s exited with status %s at stdin EOF" % (
                    " ".join(os.path.basename(x) for x in self.cmd[:1] + self.cmd[-2:]), rc))
        except (subprocess.TimeoutExpired, OSError):
            ODD.append("%s did not exit within %d s of stdin EOF" % (
                os.path.basename(self.cmd[0]), timeout))
            self.kill()
        try:
            self.p.stdout.close()
        except OSError:
            pass

    def kill(self):
        try:
            os.killpg(self.p.pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            self.p.wait(5)
        except subprocess.TimeoutExpired:
            pass
        for f in (self.p.stdin, self.p.stdout):
            try:
                f.close()
            except OSError:
                pass


def command(path):
    ssh = ["ssh", "-F", A.ssh_config]
    if path == "exec":
        return ssh + [A.host, "CODEX_HOME=%s %s app-server" % (A.codex_home, A.codex_bin)]
    if path == "exec_curve25519":
        return ssh + ["-o", "KexAlgorithms=curve25519-sha256", A.host,
                      "CODEX_HOME=%s %s app-server" % (A.codex_home, A.codex_bin)]
    if path == "desktop_proxy":
        return ssh + [A.host, "CODEX_HOME=%s %s app-server proxy --sock %s" % (
            A.codex_home, A.codex_bin, A.daemon_sock)]
    if path == "raw":
        return ssh + ["-s", A.host, "raw"]
    if path == "local":
        return ["env", "CODEX_HOME=" + A.codex_home, A.codex_bin, "app-server"]
    if path in CC_FLAGS:
        return [A.connect, "-F", A.ssh_config, A.host, "--stdio"] + CC_FLAGS[path]
    if path.startswith("relay:"):
        return [A.connect, "-F", A.ssh_config, A.relay_host, "--stdio", "--ping-interval", "1",
                "--dead-after", "3", "--give-up", "60"] + CC_FLAGS[path[6:]]
    raise ValueError(path)


def init_msg():
    return {"id": 1, "method": "initialize",
            "params": {"clientInfo": {"name": "codex-bench", "version": "1"}}}


def open_session(path, deadline):
    """Starts path's client; returns (client, ms from start to the initialize
    response). raw: the time to the echo of the same line."""
    c = Client(command(path), ws=(path == "desktop_proxy"), deadline=deadline)
    c.send(init_msg())
    if path == "raw":
        c.recv(deadline)
    else:
        c.answer(1, deadline)
    ms = (now() - c.t0) * 1000
    if path != "raw":
        c.send({"method": "initialized"})
    return c, ms


# ---- turns ------------------------------------------------------------------------

class TurnResult:
    pass


def run_turn(c, tid, text, deadline, record=None):
    """turn/start with text on thread tid; reads until turn/completed. Approval
    requests are accepted. record: a list that gets every message's bytes."""
    c.nid += 1
    rid = c.nid
    ridkey = b'{"id":%d,' % rid
    r = TurnResult()
    r.msgs = r.deltas = r.payload = r.outdelta = r.agg = 0
    r.t_first = r.t_last = None
    t0 = now()
    c.send({"id": rid, "method": "turn/start",
            "params": {"threadId": tid, "input": [{"type": "text", "text": text}]}})
    while True:
        b = c.batch(deadline)
        t = now()
        for k, m in enumerate(b):
            r.payload += len(m) + 1
            if record is not None:
                record.append(m)
            if DELTA in m:
                r.deltas += 1
                if r.t_first is None:
                    r.t_first = t
                r.t_last = t
                continue
            if m.startswith(ridkey) or (b'"id":%d' % rid in m and b'"method"' not in m):
                o = json.loads(m)
                if o.get("id") == rid and "error" in o:
                    raise Fail("turn/start failed: %r" % o)
                continue
            r.msgs += 1
            if b'"item/commandExecution/outputDelta"' in m:
                r.outdelta += len(json.loads(m)["params"].get("delta") or "")
                continue
            if b'"aggregatedOutput"' in m and b'"item/completed"' in m:
                o = json.loads(m)
                if o.get("method") == "item/completed":
                    r.agg += len(o["params"]["item"].get("aggregatedOutput") or "")
                continue
            if b'"turn/completed"' in m:
                o = json.loads(m)
                if o.get("method") == "turn/completed":
                    st = o["params"]["turn"]["status"]
                    if st != "completed":
                        raise Fail("turn ended %s: %r" % (st, o["params"]["turn"]))
                    r.t_done = t
                    r.seconds = t - t0
                    c.pending = b[k + 1:] + c.pending
                    return r
            elif b'"requestApproval"' in m or b'"requestUserInput"' in m:
                o = json.loads(m)
                if "id" in o and "method" in o:
                    c.send({"id": o["id"], "result": {"decision": "accept"}})


def replay(c, lines, deadline):
    """raw: writes recorded messages into cat and reads the echo; returns a
    TurnResult shaped like run_turn's."""
    data = b"".join(l + b"\n" for l in lines)
    last = lines[-1] + b"\n"
    r = TurnResult()
    r.msgs = r.deltas = r.payload = r.outdelta = r.agg = 0
    r.t_first = r.t_last = None
    off = 0
    t0 = now()
    got = 0
    tail = b""
    while True:
        left = deadline - now()
        if left <= 0:
            raise Fail("raw: timed out")
        wl = [c.fin] if off < len(data) else []
        rd, wr, _ = select.select([c.fout], wl, [], left)
        if wr:
            n = os.write(c.fin, data[off:off + (1 << 16)])
            c.pipe_out += n
            off += n
        if rd:
            d = os.read(c.fout, 1 << 18)
            if not d:
                raise Fail("raw: cat closed")
            c.pipe_in += len(d)
            t = now()
            got += len(d)
            seg = tail + d
            k = seg.rfind(b"\n")
            if k >= 0:
                whole, tail = seg[:k], seg[k + 1:]
                for m in whole.split(b"\n"):
                    r.msgs += 1
                    if DELTA in m:
                        r.deltas += 1
                        if r.t_first is None:
                            r.t_first = t
                        r.t_last = t
            else:
                tail = seg
            if got >= len(data):
                r.payload = got
                r.t_done = t
                r.seconds = t - t0
                r.msgs -= r.deltas
                return r


def rtt(c, path, n, deadline):
    """Median round trip of a small request (thread/loaded/list: answered from
    the app server's memory), in microseconds; raw: the echo of the same line."""
    ts = []
    for i in range(n + 5):
        c.nid += 1
        msg = {"id": c.nid, "method": "thread/loaded/list", "params": {}}
        t = now()
        if path == "raw":
            c.send(msg)
            c.recv(deadline)
        else:
            c.send(msg)
            c.answer(c.nid, deadline)
        if i >= 5:
            ts.append((now() - t) * 1e6)
    return statistics.median(ts)


# ---- one full session per path and round ---------------------------------------------

RECORD = {}     # recorded message streams of the local run, replayed by raw


def session_run(path):
    deadline = now() + A.session_timeout
    if path in ("framed", "framed_zlib"):
        stop_host()
    out = {}
    c, out["connect_ms"] = open_session(path, deadline)
    try:
        quiet()
        out["rtt_us"] = rtt(c, path, A.rtt_n, deadline)
        tid = None
        if path != "raw":
            tid = c.request("thread/start", {}, deadline)["thread"]["id"]
        for name, text in (("delta", "deltas=%d" % A.deltas), ("bigout", "bigout")):
            if name == "delta":
                quiet()
            before = tcp_counters(c.p.pid) if path != "local" else None
            cpu0 = cpu_snapshot(path, c.p.pid)
            pin, pout = c.pipe_in, c.pipe_out
            if path == "raw":
                r = replay(c, RECORD[name], deadline)
            else:
                rec = [] if path == "local" else None
                r = run_turn(c, tid, text, deadline, rec)
                if rec is not None:
                    RECORD[name] = rec
            cpu = cpu_used(cpu0, cpu_snapshot(path, c.p.pid))
            after = tcp_counters(c.p.pid) if path != "local" else None
            if name == "delta" and r.deltas != A.deltas:
                raise Fail("%s: %d deltas, not %d" % (path, r.deltas, A.deltas))
            if name == "bigout" and path != "raw" and r.agg < 1000000:
                raise Fail("%s: the command's output came back with %d bytes, not 1000000" % (
                    path, r.agg))
            span = (r.t_last - r.t_first) if r.t_first is not None else 0
            o = {"seconds": r.seconds, "msgs": r.msgs + r.deltas, "payload": r.payload,
                 "deltas": r.deltas,
                 "deltas_per_s": (r.deltas - 1) / span if span > 0 else None,
                 "msgs_per_s": (r.msgs + r.deltas) / r.seconds,
                 "mb_per_s": r.payload / r.seconds / 1e6,
                 "pipe_in": c.pipe_in - pin, "pipe_out": c.pipe_out - pout}
            if before and after:
                o["wire_up"] = after[0] - before[0]
                o["wire_down"] = after[1] - before[1]
                o["segs_down"] = after[2] - before[2]
                o["segs_up"] = after[3] - before[3]
            o["cpu_ms"] = cpu
            o["output_delta_bytes"] = r.outdelta
            o["aggregated_output_bytes"] = r.agg
            out[name] = o
        out["rss"] = rss_of(path, c.p.pid)
    finally:
        c.close()
    return out


# ---- reconnect -> resumed ------------------------------------------------------------

def relay_cmd(words):
    with open(A.relay_ctl, "w") as f:
        f.write(words + "\n")
    os.kill(A.relay_pid, signal.SIGUSR1)


def relay_event(prefix, after, timeout=10):
    end = now() + timeout
    while now() < end:
        try:
            with open(A.relay_log) as f:
                for l in f:
                    w = l.split()
                    if l.startswith(prefix) and w and w[-1].startswith("at="):
                        t = float(w[-1][3:])
                        if t > after:
                            return t
        except OSError:
            pass
        time.sleep(0.01)
    raise Fail("relay: no %r" % prefix)


def delta_index(m):
    o = json.loads(m)
    d = o["params"]["delta"]
    return int(d[1:].strip())


def take(c, until):
    """The messages that come before `until`, or []."""
    try:
        return c.batch(until)
    except Timeout:
        return []


def resume_framed(path):
    """codex-connect through relay.py: after 500 deltas of a rate-limited turn the
    relay resets the connection and refuses new ones for --outage seconds; then
    it listens again. Measured from then to the first message of the turn after
    the cut (and from the relay's accept of the new connection). Every delta
    must come exactly once, in order."""
    deadline = now() + A.outage + 40
    c = Client(command("relay:" + path))
    try:
        c.send(init_msg())
        c.answer(1, deadline)
        c.send({"method": "initialized"})
        tid = c.request("thread/start", {}, deadline)["thread"]["id"]
        c.send({"id": 3, "method": "turn/start", "params": {"threadId": tid, "input": [
            {"type": "text", "text": "deltas=%d rate=1000" % int(1000 * (A.outage + 20))}]}})
        k = 0
        while k < 500:
            m = c.recv(deadline)
            if DELTA in m:
                if delta_index(m) != k:
                    raise Fail("delta %d out of order" % k)
                k += 1
        relay_cmd("refuse cut")

        def drain(b):
            nonlocal k
            for m in b:
                if DELTA in m:
                    if delta_index(m) != k:
                        raise Fail("delta %d before the reconnect is %d" % (k, delta_index(m)))
                    k += 1
        # What the client had before the cut is still coming out: read it
        # during the outage, then until 0.2 s of quiet.
        t_end = now() + A.outage
        while now() < t_end:
            drain(take(c, t_end))
        while True:
            b = take(c, now() + 0.2)
            if not b:
                break
            drain(b)
        t_open = now()
        relay_cmd("open")
        t_open = relay_event("ack", t_open - 0.001)
        m = c.recv(deadline)
        t_first = now()
        t_acc = relay_event("accept", t_open)
        seen = [m]
        # A few more, to check for gaps and duplicates at the seam.
        while sum(1 for x in seen if DELTA in x) < 50:
            seen.append(c.recv(deadline))
        for x in seen:
            if DELTA in x:
                if delta_index(x) != k:
                    raise Fail("after the resume, delta %d is %d" % (k, delta_index(x)))
                k += 1
        return {"ms": (t_first - t_open) * 1000, "after_accept_ms": (t_first - t_acc) * 1000,
                "lost": 0}
    finally:
        c.close()


def resume_manual(path):
    """exec, desktop_proxy, plain: nothing resumes by itself. After 500 deltas of
    a rate-limited turn the client process is killed (the link is gone); a new
    connection is started at once: initialize, thread/resume. Measured from the
    new connection's start to the thread/resume response; then what is left of
    the turn is noted (deltas lost, or the turn gone with the app server)."""
    deadline = now() + 40
    c, _ = open_session(path, deadline)
    try:
        tid = c.request("thread/start", {}, deadline)["thread"]["id"]
        c.send({"id": 3, "method": "turn/start", "params": {"threadId": tid, "input": [
            {"type": "text", "text": "deltas=%d rate=1000" % 4000}]}})
        k = 0
        while k < 500:
            if DELTA in c.recv(deadline):
                k += 1
    finally:
        c.kill()
    c2, _ = open_session(path, deadline)
    try:
        c2.request("thread/resume", {"threadId": tid}, deadline)
        ms = (now() - c2.t0) * 1000
        # Does the turn go on for the new connection?
        first, end = None, now() + 1.5
        while now() < end:
            b = take(c2, end)
            for m in b:
                if DELTA in m and first is None:
                    first = delta_index(m)
            if first is not None:
                break
        if first is None:
            note = "the turn is gone (it died with the app server)" if path != "desktop_proxy" \
                else "no more deltas of the turn reach the new connection"
            lost = None
        else:
            lost = first - k
            note = "the turn goes on; %d deltas lost in the gap" % lost
        return {"ms": ms, "lost": lost, "note": note}
    finally:
        c2.close()


# ---- key exchange -----------------------------------------------------------------------

def negotiated():
    out = {}
    try:
        r = subprocess.run([A.connect, "-vv", "-F", A.ssh_config, A.host, "status"],
                           stdin=DEVNULL, capture_output=True, timeout=30)
        m = re.search(rb"Negotiated ([^,\s]+),[^,]*,([^,]+),", r.stderr)
        out["codex_connect"] = (m.group(1).decode(), m.group(2).decode()) if m else ("?", "?")
        for k, extra in (("openssh", []), ("openssh_curve25519",
                                           ["-o", "KexAlgorithms=curve25519-sha256"])):
            r = subprocess.run(["ssh", "-v", "-F", A.ssh_config] + extra + [A.host, "true"],
                               stdin=DEVNULL, capture_output=True, timeout=30)
            e = r.stderr.replace(b"\r", b"")
            kx = re.search(rb"kex: algorithm: (\S+)", e)
            ci = re.search(rb"kex: server->client cipher: (\S+)", e)
            out[k] = (kx.group(1).decode() if kx else "?", ci.group(1).decode() if ci else "?")
    except (OSError, subprocess.SubprocessError) as e:
        say("codex-bench: cannot tell the key exchange: %s" % e)
    return out


# ---- report -------------------------------------------------------------------------------

def med(v):
    v = [x for x in v if x is not None]
    return statistics.median(v) if v else None


def rnd(x, d=1):
    return None if x is None else round(x, d)


def main():
    global A, LOG
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for k in ("ssh-config", "host", "relay-host", "codex-bin", "codex-home", "connect", "sub",
              "conf", "daemon-sock", "relay-ctl", "relay-log", "workdir"):
        ap.add_argument("--" + k, required=True)
    for k in ("sshd-pid", "sshd-port", "relay-pid", "daemon-pid"):
        ap.add_argument("--" + k, type=int, required=True)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--json-out", help="also write the JSON object to this file")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--connects", type=int, default=7)
    ap.add_argument("--resumes", type=int, default=2)
    ap.add_argument("--deltas", type=int, default=20000)
    ap.add_argument("--rtt-n", type=int, default=200)
    ap.add_argument("--outage", type=float, default=1.0)
    ap.add_argument("--session-timeout", type=float, default=60)
    ap.add_argument("--quiet-budget", type=float, default=40,
                    help="seconds to wait in all for an idle machine before turns")
    ap.add_argument("--budget", type=float, default=230,
                    help="seconds; later rounds are skipped past it")
    A = ap.parse_args()
    A.daemon_pid = real_daemon_pid(A.daemon_pid)
    LOG = open(os.path.join(A.workdir, "clients.err"), "ab")
    t_begin = now()
    load0 = os.getloadavg()

    kex = negotiated()
    say("codex-bench: key exchange: codex-connect %s, OpenSSH %s (reference: %s)" % (
        kex.get("codex_connect", ("?",))[0], kex.get("openssh", ("?",))[0],
        kex.get("openssh_curve25519", ("?",))[0]))

    # The local reference first: it records the turns that raw replays.
    say("codex-bench: local stdio reference (no SSH)...")
    local = session_run("local")
    settle()

    conn_paths = PATHS + ["exec_curve25519"]
    say("codex-bench: cold connects: 1 warm-up + %d per path, interleaved..." % A.connects)
    connects = {p: [] for p in conn_paths}
    for i in range(A.connects + 1):
        order = conn_paths[i % len(conn_paths):] + conn_paths[:i % len(conn_paths)]
        for p in order:
            c, ms = open_session(p, now() + 30)
            c.close()
            settle()
            if i > 0:
                connects[p].append(ms)

    runs = {p: [] for p in PATHS}
    rounds_done = 0
    round_s = 0.0
    for i in range(A.rounds):
        # Room for another round and the resumes (about 3 s each)?
        left = A.budget - (now() - t_begin)
        if i > 0 and left < round_s + 3.5 * A.resumes * 5:
            say("codex-bench: time budget: stopping after %d rounds" % i)
            break
        say("codex-bench: round %d of %d: RTT, a %d-delta turn, a 1 MB command-output turn "
            "per path..." % (i + 1, A.rounds, A.deltas))
        t_round = now()
        order = PATHS[i % len(PATHS):] + PATHS[:i % len(PATHS)]
        for p in order:
            runs[p].append(session_run(p))
            settle()
        round_s = max(round_s, now() - t_round)
        rounds_done += 1

    say("codex-bench: reconnect -> resumed, %d per path..." % A.resumes)
    resumes = {p: [] for p in PATHS if p != "raw"}
    for i in range(A.resumes):
        for p in resumes:
            resumes[p].append(resume_framed(p) if p in ("framed", "framed_zlib")
                              else resume_manual(p))
            settle()
    stop_host()

    # ---- the figures ----
    rows = []
    for p in PATHS:
        rs = runs[p]
        d = [r["delta"] for r in rs]
        bo = [r["bigout"] for r in rs]
        row = {"path": p}
        row["connect_ms"] = rnd(med(connects[p]))
        row["connect_ms_min_max"] = [rnd(min(connects[p])), rnd(max(connects[p]))]
        row["rtt_us"] = rnd(med([r["rtt_us"] for r in rs]), 0)
        row["deltas_per_s"] = rnd(med([x["deltas_per_s"] for x in d]), 0)
        row["deltas_per_s_min_max"] = [rnd(min(x["deltas_per_s"] for x in d), 0),
                                       rnd(max(x["deltas_per_s"] for x in d), 0)]
        row["delta_turn_s"] = rnd(med([x["seconds"] for x in d]), 3)
        row["delta_turn_msgs_per_s"] = rnd(med([x["msgs_per_s"] for x in d]), 0)
        row["delta_turn_mb_per_s"] = rnd(med([x["mb_per_s"] for x in d]), 2)
        row["bigout_turn_s"] = rnd(med([x["seconds"] for x in bo]), 3)
        row["bigout_msgs_per_s"] = rnd(med([x["msgs_per_s"] for x in bo]), 0)
        row["bigout_mb_per_s"] = rnd(med([x["mb_per_s"] for x in bo]), 2)
        wd = [x.get("wire_down") for x in d]
        wu = [x.get("wire_up") for x in d]
        if all(v is not None for v in wd + wu) and wd:
            row["wire_bytes_down"] = int(med(wd))
            row["wire_bytes_up"] = int(med(wu))
            row["tcp_segments_down"] = int(med([x.get("segs_down", 0) for x in d]))
            row["tcp_segments_up"] = int(med([x.get("segs_up", 0) for x in d]))
            # raw echoes what it is sent: its up direction is the replayed
            # stream, so only what comes down is comparable.
            row["wire_bytes"] = row["wire_bytes_down"] + (0 if p == "raw" else row["wire_bytes_up"])
            bd = [x.get("wire_down", 0) + (0 if p == "raw" else x.get("wire_up", 0)) for x in bo]
            row["wire_bytes_bigout"] = int(med(bd))
        else:
            row["wire_bytes"] = row["wire_bytes_bigout"] = None
        if p in ("exec", "desktop_proxy", "raw"):
            # OpenSSH paths: the tunnel's bytes (after decryption) are the pipes'.
            row["tunnel_bytes"] = int(med([x["pipe_in"] + (0 if p == "raw" else x["pipe_out"])
                                           for x in d]))
        else:
            row["tunnel_bytes"] = None
        row["app_bytes"] = int(med([x["payload"] for x in d]))
        row["delta_turn_msgs"] = int(med([x["msgs"] for x in d]))
        row["bigout_msgs"] = int(med([x["msgs"] for x in bo]))
        row["bigout_app_bytes"] = int(med([x["payload"] for x in bo]))
        row["bigout_output_delta_bytes"] = int(med([x["output_delta_bytes"] for x in bo]))
        row["cpu_ms_delta_turn"] = {k: rnd(med([x["cpu_ms"][k] for x in d]), 0)
                                    for k in ("client", "sshd", "server", "app", "driver")}
        row["cpu_ms_bigout_turn"] = {k: rnd(med([x["cpu_ms"][k] for x in bo]), 0)
                                     for k in ("client", "sshd", "server", "app", "driver")}
        cm = row["cpu_ms_delta_turn"]
        row["transport_cpu_us_per_delta"] = rnd(
            (cm["client"] + cm["sshd"] + cm["server"]) * 1000.0 / A.deltas, 1)
        rss = [r["rss"] for r in rs]
        row["peak_rss_kb"] = max(x["client"] + x["server"] for x in rss)
        row["rss_client_kb"] = max(x["client"] for x in rss)
        row["rss_server_kb"] = max(x["server"] for x in rss)
        row["rss_app_server_kb"] = max(x["app_server"] for x in rss)
        if p in resumes:
            rz = resumes[p]
            row["resume_ms"] = rnd(med([x["ms"] for x in rz]))
            if p in ("framed", "framed_zlib"):
                row["resume_after_accept_ms"] = rnd(med([x["after_accept_ms"] for x in rz]))
                row["resume_note"] = "resumed by itself; no delta lost or repeated"
            else:
                row["resume_note"] = rz[-1]["note"]
        else:
            row["resume_ms"] = None
        rows.append(row)

    byp = {r["path"]: r for r in rows}
    ex, px, zl = byp["exec"], byp["desktop_proxy"], byp["framed_zlib"]
    best_ab = max(ex["deltas_per_s"], px["deltas_per_s"])
    goals = {
        "connect_no_slower_than_exec": {
            p: {"ms": byp[p]["connect_ms"], "exec_ms": ex["connect_ms"],
                "ratio": rnd(byp[p]["connect_ms"] / ex["connect_ms"], 3),
                "met": byp[p]["connect_ms"] <= ex["connect_ms"]}
            for p in ("plain", "framed", "framed_zlib")},
        "deltas_at_least_best_of_exec_and_proxy": {
            p: {"deltas_per_s": byp[p]["deltas_per_s"], "best_ab": best_ab,
                "ratio": rnd(byp[p]["deltas_per_s"] / best_ab, 3),
                "met": byp[p]["deltas_per_s"] >= best_ab}
            for p in ("plain", "framed", "framed_zlib")},
        "zlib_wire_bytes_at_most_fifth_of_exec": {
            "framed_zlib": zl["wire_bytes"], "exec": ex["wire_bytes"],
            "ratio": rnd(zl["wire_bytes"] / ex["wire_bytes"], 4)
            if zl["wire_bytes"] and ex["wire_bytes"] else None,
            "met": bool(zl["wire_bytes"] and ex["wire_bytes"] and
                        zl["wire_bytes"] * 5 <= ex["wire_bytes"])},
        "resume_within_1s": {
            p: {"ms": byp[p]["resume_ms"], "met": byp[p]["resume_ms"] <= 1000}
            for p in ("framed", "framed_zlib")},
    }
    lr, ld = local["delta"], local["bigout"]
    # What zlib alone makes of the delta turn's messages (level 1, one stream,
    # a sync flush per message, as the framed mode does), without frame
    # headers and SSH packets: the floor for framed_zlib's wire bytes.
    co = zlib.compressobj(1, zlib.DEFLATED, -15)
    zest = sum(len(co.compress(m + b"\n")) + len(co.flush(zlib.Z_SYNC_FLUSH))
               for m in RECORD["delta"])
    refs = [
        {"path": "local_stdio", "what": "codex app-server on local stdio, no SSH",
         "connect_ms": rnd(local["connect_ms"]), "rtt_us": rnd(local["rtt_us"], 0),
         "deltas_per_s": rnd(lr["deltas_per_s"], 0), "delta_turn_s": rnd(lr["seconds"], 3),
         "bigout_turn_s": rnd(ld["seconds"], 3), "app_bytes": lr["payload"],
         "rss_app_server_kb": local["rss"]["client"],
         "delta_turn_msgs": len(RECORD["delta"]),
         "delta_turn_zlib_bytes": zest},
        {"path": "exec_curve25519", "what": "exec with ssh -o KexAlgorithms=curve25519-sha256",
         "connect_ms": rnd(med(connects["exec_curve25519"])),
         "connect_ms_min_max": [rnd(min(connects["exec_curve25519"])),
                                rnd(max(connects["exec_curve25519"]))]},
    ]
    res = {
        "rows": rows, "goals": goals, "references": refs,
        "method": {
            "connect_ms": "median over cold connects: client process started -> initialize "
                          "response (raw: echo of that line)",
            "rtt_us": "median of thread/loaded/list round trips on an open session "
                      "(raw: echo of the same line)",
            "deltas_per_s": "item/agentMessage/delta messages between the first and the last "
                            "one of a 'deltas=N' turn, median over rounds",
            "wire_bytes": "bytes of the client's TCP connection to sshd during the N-delta "
                          "turn, both directions, from the kernel's tcp_info (ss -ti): SSH "
                          "packets after encryption, no TCP/IP headers; raw: down only",
            "tunnel_bytes": "bytes through the OpenSSH client's pipes (decrypted channel "
                            "payload); not observable for codex-connect (libssh in-process)",
            "peak_rss_kb": "VmHWM of the client + remote processes between sshd and the "
                           "app server (codex-subsystem and session host, proxy, cat), max "
                           "over rounds; the app server's own in rss_app_server_kb",
            "resume_ms": "framed paths: relay.py reopens after an outage -> first message "
                         "of the turn; others: new connection -> thread/resume answered",
            "cpu_ms_delta_turn": "utime+stime of each role's processes during the turn",
        },
        "kex": {"exec": kex.get("openssh", ["?"])[0],
                "desktop_proxy": kex.get("openssh", ["?"])[0],
                "raw": kex.get("openssh", ["?"])[0],
                "plain": kex.get("codex_connect", ["?"])[0],
                "framed": kex.get("codex_connect", ["?"])[0],
                "framed_zlib": kex.get("codex_connect", ["?"])[0],
                "exec_curve25519": kex.get("openssh_curve25519", ["?"])[0]},
        "cipher": {"openssh": kex.get("openssh", ["?", "?"])[1],
                   "codex_connect": kex.get("codex_connect", ["?", "?"])[1]},
        "repetitions": {"connects": A.connects, "rounds": rounds_done, "resumes": A.resumes,
                        "rtt_requests": A.rtt_n},
        "deltas": A.deltas, "outage_s": A.outage,
        "loadavg_before_after": [round(load0[0], 2), round(os.getloadavg()[0], 2)],
        "cpus": os.cpu_count(),
        "waited_for_idle_s": round(QUIET["waited"], 1),
        "anomalies": ODD,
        "seconds": round(now() - t_begin, 1),
    }
    if A.json_out:
        with open(A.json_out, "w") as f:
            f.write(json.dumps(res) + "\n")
    if A.json:
        print(json.dumps(res))
    else:
        print_table(res)
    return 0


def fmt(v, f="%s", none="-"):
    return none if v is None else f % v


def print_table(r):
    rows = r["rows"]
    rep = r["repetitions"]
    print("Codex app server reached over SSH: %d CPUs, load %.2f -> %.2f, %s s "
          "(%.1f s of it waiting for idle CPUs)" % (
              r["cpus"], r["loadavg_before_after"][0], r["loadavg_before_after"][1],
              r["seconds"], r["waited_for_idle_s"]))
    print("(medians: connect of %d cold connects per path; turns and RTT of %d rounds; "
          "resume of %d)" % (rep["connects"], rep["rounds"], rep["resumes"]))
    print()
    hdr = ("path", "connect", "RTT", "deltas/s", "delta turn", "MB/s", "1MB turn", "MB/s",
           "wire delta", "wire 1MB", "peak RSS", "resume")
    print("%-14s %9s %8s %9s %10s %6s %9s %6s %11s %10s %9s %8s" % hdr)
    print("%-14s %9s %8s %9s %10s %6s %9s %6s %11s %10s %9s %8s" % (
        "", "ms", "us", "", "s", "", "s", "", "bytes", "bytes", "KiB", "ms"))
    for x in rows:
        print("%-14s %9s %8s %9s %10s %6s %9s %6s %11s %10s %9s %8s" % (
            x["path"], fmt(x["connect_ms"], "%.1f"), fmt(x["rtt_us"], "%.0f"),
            fmt(x["deltas_per_s"], "%.0f"), fmt(x["delta_turn_s"], "%.3f"),
            fmt(x["delta_turn_mb_per_s"], "%.2f"), fmt(x["bigout_turn_s"], "%.3f"),
            fmt(x["bigout_mb_per_s"], "%.2f"), fmt(x["wire_bytes"], "%d"),
            fmt(x["wire_bytes_bigout"], "%d"), fmt(x["peak_rss_kb"], "%d"),
            fmt(x["resume_ms"], "%.0f")))
    for x in r["references"]:
        if x["path"] == "local_stdio":
            print("%-14s %9s %8s %9s %10s %6s %9s %6s %11s %10s %9s %8s" % (
                "(local stdio)", fmt(x["connect_ms"], "%.1f"), fmt(x["rtt_us"], "%.0f"),
                fmt(x["deltas_per_s"], "%.0f"), fmt(x["delta_turn_s"], "%.3f"), "-",
                fmt(x["bigout_turn_s"], "%.3f"), "-", "-", "-", "-", "-"))
        else:
            print("%-14s %9s   (exec, ssh -o KexAlgorithms=curve25519-sha256; min..max %s)" % (
                "(exec 25519)", fmt(x["connect_ms"], "%.1f"),
                "..".join("%.1f" % v for v in x["connect_ms_min_max"])))
    print()
    print("per path: key exchange; connect min..max; deltas/s min..max; tunnel bytes "
          "(delta turn); RSS client+server (app server)")
    for x in rows:
        print("  %-13s %-36s %7s..%-7s %6s..%-6s %9s  %s+%s (%s)" % (
            x["path"], r["kex"][x["path"]],
            fmt(x["connect_ms_min_max"][0], "%.1f"), fmt(x["connect_ms_min_max"][1], "%.1f"),
            fmt(x["deltas_per_s_min_max"][0], "%.0f"), fmt(x["deltas_per_s_min_max"][1], "%.0f"),
            fmt(x["tunnel_bytes"], "%d"), x["rss_client_kb"], x["rss_server_kb"],
            x["rss_app_server_kb"]))
    print()
    loc = [x for x in r["references"] if x["path"] == "local_stdio"][0]
    print("wire, %d-delta turn (%d messages, %d bytes of JSONL; zlib alone, level 1 with a "
          "sync flush per message: %d bytes):" % (r["deltas"], loc["delta_turn_msgs"],
                                                  loc["app_bytes"], loc["delta_turn_zlib_bytes"]))
    print("  %-13s %10s %9s %9s %9s %9s   1MB turn: %s" % (
        "path", "down", "up", "segs down", "segs up", "bytes/msg", "outputDelta bytes + 1 MB "
        "in item/completed"))
    for x in r["rows"]:
        if x.get("wire_bytes_down") is None:
            continue
        print("  %-13s %10d %9d %9d %9d %9.1f   %d" % (
            x["path"], x["wire_bytes_down"], x["wire_bytes_up"], x["tcp_segments_down"],
            x["tcp_segments_up"], x["wire_bytes"] / max(1, loc["delta_turn_msgs"]),
            x["bigout_output_delta_bytes"]))
    print()
    print("CPU of the %d-delta turn, ms (medians): the transport's processes compete with "
          "the app server for the same CPUs" % r["deltas"])
    print("  %-13s %8s %8s %8s %10s %8s %14s" % ("path", "client", "sshd", "server",
                                                 "app server", "driver", "transport/delta"))
    for x in r["rows"]:
        cm = x["cpu_ms_delta_turn"]
        print("  %-13s %8.0f %8.0f %8.0f %10.0f %8.0f %12.1f us" % (
            x["path"], cm["client"], cm["sshd"], cm["server"], cm["app"], cm["driver"],
            x["transport_cpu_us_per_delta"]))
    print()
    print("resume:")
    for x in rows:
        if x.get("resume_ms") is not None:
            extra = ""
            if "resume_after_accept_ms" in x:
                extra = " (from the relay's accept: %.0f ms)" % x["resume_after_accept_ms"]
            print("  %-13s %6.0f ms%s: %s" % (x["path"], x["resume_ms"], extra, x["resume_note"]))
    g = r["goals"]
    print()
    print("goals:")
    for p, v in g["connect_no_slower_than_exec"].items():
        print("  cold connect %-12s <= exec        %7.1f ms vs %7.1f ms (x%.2f)  %s" % (
            p, v["ms"], v["exec_ms"], v["ratio"], "met" if v["met"] else "NOT MET"))
    byp = {x["path"]: x for x in rows}
    for p, v in g["deltas_at_least_best_of_exec_and_proxy"].items():
        print("  deltas/s %-12s >= best of a,b %7.0f vs %7.0f    (x%.2f)  %s" % (
            p, v["deltas_per_s"], v["best_ab"], v["ratio"], "met" if v["met"] else "NOT MET"))
    print("    (spread over the rounds: %s)" % ", ".join(
        "%s %.0f..%.0f" % (p, byp[p]["deltas_per_s_min_max"][0], byp[p]["deltas_per_s_min_max"][1])
        for p in ("exec", "desktop_proxy", "plain", "framed", "framed_zlib")))
    v = g["zlib_wire_bytes_at_most_fifth_of_exec"]
    print("  wire bytes framed_zlib <= exec/5   %s vs %s (x%s)  %s" % (
        v["framed_zlib"], v["exec"], v["ratio"], "met" if v["met"] else "NOT MET"))
    for p, v in g["resume_within_1s"].items():
        print("  resume %-12s <= 1 s          %7.0f ms  %s" % (p, v["ms"],
                                                            "met" if v["met"] else "NOT MET"))
    if r["anomalies"]:
        print()
        print("anomalies:")
        for a in r["anomalies"]:
            print("  " + a)
    print()
    print("how: connect = a new process (ssh or codex-connect) started -> the initialize")
    print("  response (raw: the echo of that line); RTT = thread/loaded/list answered; delta")
    print("  turn = 'deltas=%d' (deltas/s between the first and the last delta; MB/s of the" %
          r["deltas"])
    print("  JSONL delivered); 1MB turn = 'bigout' (a command printing 1,000,000 bytes);")
    print("  wire = bytes of the client's TCP connection to sshd during the turn, both ways,")
    print("  as the kernel counts them (ss -ti): SSH packets as sent, encrypted, without")
    print("  TCP/IP headers, the same method for every path (raw: down only, since it echoes);")
    print("  tunnel bytes = bytes through ssh's pipes (the decrypted channel), OpenSSH only;")
    print("  peak RSS = VmHWM of the client + the remote processes between sshd and the app")
    print("  server (codex-subsystem and its session host, the proxy, cat); the app server's")
    print("  own is in parentheses. raw replays the bytes of the local run's turns into cat.")
    print("  resume: framed paths = relay back -> first message of the turn (after a %.1f s" %
          r["outage_s"])
    print("  outage); others = a new connection at once -> thread/resume answered.")


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Fail as e:
        sys.stderr.write("codex-bench: %s\n" % e)
        sys.exit(1)
