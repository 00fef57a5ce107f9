#!/usr/bin/env python3
"""load.py - the driver of tests/load/load-t.sh: many codex-connect --stdio at once,
or one after another, against the fake app server.

  load.py sessions --n N --deltas D [--host-pid PID] [--timeout S] -- CMD...
      Starts N copies of CMD. Each: initialize, initialized, thread/start (the
      connect phase, timed from its spawn). When all N are connected, every one
      gets turn/start "deltas=D tag=sK" at once (K = its index), so each session's
      deltas read "sK:d0 ", "sK:d1 ", ...: one of another session, a gap, a
      repeat or a reordering fails that session. After its turn/completed a
      session's stdin is closed and its stdout read to EOF (a delta repeated after
      the end fails too); codex-connect must then exit 0. The session host's
      VmRSS (/proc/PID/status) is read when all are connected and every 50 ms
      while they stream; its VmHWM is reset (clear_refs 5) when the turns start.
      When the first session completes, the share of its deltas each other one
      has received then is noted (fairness: served in turn, some would have 0).
  load.py cycles --n N [--host-pid PID] [--timeout S] -- CMD...
      N times, one after another: start CMD, initialize, wait for the answer,
      close stdin, wait for exit status 0 (10 s at most).

Prints "key value..." lines for the shell (see the end of each mode); the first
word of a failure line is "fail". Exits 0 when every session or cycle passed.
Every wait is bounded by --timeout (whole run); on the deadline, or on any
exit, the children still running are killed.
"""
import argparse, json, os, select, signal, subprocess, sys, time

ap = argparse.ArgumentParser()
ap.add_argument("mode", choices=["sessions", "cycles"])
ap.add_argument("--n", type=int, required=True)
ap.add_argument("--deltas", type=int, default=100)
ap.add_argument("--host-pid", type=int, default=0)
ap.add_argument("--timeout", type=float, default=300)
argv = sys.argv[1:]
if "--" not in argv or argv.index("--") == len(argv) - 1:
    ap.error("no command after --")
a = ap.parse_args(argv[:argv.index("--")])
cmd = argv[argv.index("--") + 1:]
T0 = time.monotonic()
DEADLINE = T0 + a.timeout
children = []


def kill(p):
    """SIGKILL to p's process group (each child leads its own: a wrapper's
    pipeline goes with it)."""
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except OSError:
        pass


def kill_all():
    for p in children:
        if p.poll() is None:
            kill(p)
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                pass


def host_kb(field):
    """VmRSS or VmHWM of the session host in KiB, 0 without one."""
    if not a.host_pid:
        return 0
    try:
        with open("/proc/%d/status" % a.host_pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def host_fds():
    try:
        return len(os.listdir("/proc/%d/fd" % a.host_pid)) if a.host_pid else 0
    except OSError:
        return -1


def spread(xs):
    """min median max of a list of milliseconds."""
    s = sorted(xs)
    if not s:
        return "min 0 median 0 max 0"
    return "min %.0f median %.0f max %.0f" % (s[0], s[(len(s) - 1) // 2], s[-1])


def on_signal(sig, _):
    kill_all()
    print("fail killed by signal %d" % sig)
    sys.exit(1)


signal.signal(signal.SIGTERM, on_signal)
signal.signal(signal.SIGINT, on_signal)


class Session:
    """One codex-connect --stdio and where its conversation stands."""

    def __init__(self, k):
        self.k = k
        self.tag = "s%d" % k
        self.t_spawn = time.monotonic()
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, bufsize=0,
                                  start_new_session=True)
        children.append(self.p)
        os.set_blocking(self.p.stdout.fileno(), False)
        self.buf = b""
        self.state = "init"      # init, thread, ready, turn, drain, eof, failed
        self.deltas = 0
        self.answered = set()
        self.completed = 0
        self.connect_ms = self.stream_ms = None
        self.why = ""
        self.send({"id": 1, "method": "initialize",
                   "params": {"clientInfo": {"name": "load-t", "version": "1"}}})

    def send(self, o):
        try:
            self.p.stdin.write(json.dumps(o).encode() + b"\n")
        except OSError as e:
            self.fail("cannot write to codex-connect: %s" % e)

    def fail(self, why):
        if self.state != "failed":
            self.state, self.why = "failed", why
            kill(self.p)

    def start_turn(self):
        self.t_turn = time.monotonic()
        self.state = "turn"
        self.send({"id": 3, "method": "turn/start", "params": {
            "threadId": self.thread, "input": [{"type": "text", "text":
                "deltas=%d tag=%s" % (a.deltas, self.tag)}]}})

    def readable(self):
        try:
            d = os.read(self.p.stdout.fileno(), 1 << 16)
        except BlockingIOError:
            return
        if not d:
            self.eof()
            return
        self.buf += d
        while self.state != "failed":
            i = self.buf.find(b"\n")
            if i < 0:
                break
            line, self.buf = self.buf[:i], self.buf[i + 1:]
            self.message(line)

    def message(self, line):
        try:
            m = json.loads(line)
        except ValueError:
            return self.fail("not JSON: %r" % line[:100])
        meth, mid = m.get("method"), m.get("id")
        if meth is None:
            if mid in self.answered or mid not in (1, 2, 3):
                return self.fail("an answer to id %r unasked or repeated" % mid)
            self.answered.add(mid)
            if "result" not in m:
                return self.fail("request %r: %r" % (mid, m))
            if mid == 1:
                self.send({"method": "initialized"})
                self.send({"id": 2, "method": "thread/start", "params": {}})
                self.state = "thread"
            elif mid == 2:
                self.thread = m["result"]["thread"]["id"]
                self.connect_ms = (time.monotonic() - self.t_spawn) * 1000
                self.state = "ready"
            return
        if meth == "item/agentMessage/delta":
            want = "%s:d%d " % (self.tag, self.deltas)
            got = m["params"]["delta"]
            if got != want or self.state != "turn":
                return self.fail("delta %d is %r, not %r (%s)" %
                                 (self.deltas, got, want, self.state))
            self.deltas += 1
        elif meth == "turn/completed":
            self.completed += 1
            if self.completed > 1:
                return self.fail("turn/completed twice")
            if m["params"]["turn"]["status"] != "completed":
                return self.fail("turn ended %r" % m["params"]["turn"])
            if self.deltas != a.deltas:
                return self.fail("%d deltas, not %d" % (self.deltas, a.deltas))
            self.stream_ms = (time.monotonic() - self.t_turn) * 1000
            if first_done[0] is None:
                first_done[0] = self
            self.state = "drain"
            try:
                self.p.stdin.close()
            except OSError:
                pass

    def eof(self):
        if self.state == "failed":
            return
        if self.state != "drain":
            return self.fail("codex-connect closed its stdout in state %s "
                             "after %d deltas (status %s)" %
                             (self.state, self.deltas, self.p.poll()))
        self.state = "eof"

    def fd(self):
        return self.p.stdout.fileno()


# The session that completed its turn first, and where the others stood then.
first_done = [None]


def run_sessions():
    rss_start = host_kb("VmRSS")
    ss = [Session(k) for k in range(a.n)]
    rss_ready = hwm = peak = 0
    progress = None
    started = False
    last_sample = 0.0
    while True:
        t = time.monotonic()
        if not started and all(s.state in ("ready", "failed") for s in ss):
            # Everyone connected: the turns start together.
            started = True
            rss_ready = host_kb("VmRSS")
            if a.host_pid:
                try:
                    with open("/proc/%d/clear_refs" % a.host_pid, "w") as f:
                        f.write("5")
                except OSError:
                    pass
            t_turns = time.monotonic()
            for s in ss:
                if s.state == "ready":
                    s.start_turn()
        if started and t - last_sample >= 0.05:
            last_sample = t
            peak = max(peak, host_kb("VmRSS"))
        live = [s for s in ss if s.state not in ("eof", "failed")]
        if not live:
            break
        if t >= DEADLINE:
            for s in live:
                s.fail("timed out in state %s after %d deltas" % (s.state, s.deltas))
            break
        r, _, _ = select.select([s.fd() for s in live], [], [],
                                min(0.05, DEADLINE - t))
        for s in live:
            if s.fd() in r:
                s.readable()
        if progress is None and first_done[0] is not None:
            # Deltas each of the others had when the first one completed:
            # with fair service all are well along, with starvation some
            # have (almost) nothing.
            progress = sorted(100.0 * s.deltas / max(1, a.deltas)
                              for s in ss if s is not first_done[0])
    if started:
        peak = max(peak, host_kb("VmRSS"))
        hwm = host_kb("VmHWM")
    t_end = time.monotonic()
    for s in ss:
        if s.state != "eof":
            continue
        try:
            rc = s.p.wait(max(1, DEADLINE - time.monotonic()))
        except subprocess.TimeoutExpired:
            s.fail("codex-connect did not exit after stdin EOF")
            continue
        if rc != 0:
            s.state, s.why = "failed", "codex-connect exited %d" % rc
    kill_all()
    good = [s for s in ss if s.state == "eof"]
    for s in ss:
        if s.state != "eof":
            print("fail %s %s" % (s.tag, s.why))
    print("sessions %d complete %d deltas %d" %
          (a.n, len(good), sum(s.deltas for s in good)))
    print("connect_ms %s" % spread([s.connect_ms for s in good]))
    print("stream_ms %s" % spread([s.stream_ms for s in good]))
    print("wall_ms %.0f" % ((t_end - (t_turns if started else T0)) * 1000))
    print("rss_kb start %d ready %d peak %d hwm %d" %
          (rss_start, rss_ready, peak, hwm))
    if progress:
        print("progress_at_first_pct min %.0f median %.0f" %
              (progress[0], progress[(len(progress) - 1) // 2]))
    return len(good) == a.n


def run_cycles():
    times = []
    fails = 0
    marks = []
    for i in range(a.n):
        if time.monotonic() >= DEADLINE:
            print("fail timed out after %d cycles" % i)
            fails += 1
            break
        t = time.monotonic()
        p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             bufsize=0, start_new_session=True)
        children.append(p)
        why = ""
        try:
            p.stdin.write(b'{"id":1,"method":"initialize","params":{"clientInfo":'
                          b'{"name":"load-t","version":"1"}}}\n')
            line = b""
            end = min(DEADLINE, t + 10)
            while not line.endswith(b"\n") and time.monotonic() < end:
                r, _, _ = select.select([p.stdout], [], [], end - time.monotonic())
                if not r:
                    break
                d = os.read(p.stdout.fileno(), 4096)
                if not d:
                    break
                line += d
            if b'"result"' not in line or b'"id":1' not in line:
                why = "initialize answered %r" % line[:200]
            p.stdin.close()
            rc = p.wait(10)
            if rc != 0 and not why:
                why = "codex-connect exited %d" % rc
        except (OSError, subprocess.TimeoutExpired) as e:
            why = "%s" % (e or type(e).__name__)
        if p.poll() is None:
            kill(p)
            p.wait(5)
        children.remove(p)
        if why:
            print("fail cycle %d: %s" % (i, why))
            fails += 1
            if fails >= 5:
                break
        times.append((time.monotonic() - t) * 1000)
        if a.host_pid and (i + 1) % max(1, a.n // 5) == 0:
            marks.append("%d:%d/%d" % (i + 1, host_fds(), host_kb("VmRSS")))
    print("cycles %d ok %d" % (len(times), len(times) - fails))
    print("cycle_ms %s" % spread(times))
    if marks:
        print("host_fds_rss %s" % " ".join(marks))
    return fails == 0 and len(times) == a.n


try:
    good = run_sessions() if a.mode == "sessions" else run_cycles()
finally:
    kill_all()
sys.exit(0 if good else 1)
