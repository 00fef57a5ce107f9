#!/usr/bin/env python3
"""hostile.py - drives `codex-connect HOST --stdio` against a hostile backend
(tests/faults/backend-t.sh) and prints one line "OK key=value ..." or "FAIL why".

  hostile.py MODE [options] -- CODEX-CONNECT-COMMAND...

Modes:
  bigline   initialize; the backend answers it only after a line over MaxMessage:
            expects the error for that line (id null, naming MaxMessage) and then
            the answer, then checks the session still works (echo/ping answered);
  nonl      initialize; the backend writes a line over MaxMessage and no newline,
            and keeps running: expects that error while it runs, then ends stdin;
  noread    the backend never reads: sends messages of --size bytes as fast as
            codex-connect takes them for --secs seconds, and reports how many
            bytes it took, when it stopped taking more, and its peak VmRSS;
  closeout  initialize; the backend answers, closes its stdout and keeps running:
            expects codex-connect to end by itself, and reports how long it took,
            its exit status and what it said on stderr.

Every wait is bounded by --timeout seconds.
"""
import argparse, json, os, select, signal, subprocess, sys, time

ap = argparse.ArgumentParser()
ap.add_argument("mode", choices=["bigline", "nonl", "noread", "closeout"])
ap.add_argument("--timeout", type=float, default=60)
ap.add_argument("--secs", type=float, default=5)
ap.add_argument("--size", type=int, default=64 * 1024)
if "--" not in sys.argv:
    ap.error("the codex-connect command follows --")
cut = sys.argv.index("--")
a = ap.parse_args(sys.argv[1:cut])
cmd = sys.argv[cut + 1:]
t0 = time.monotonic()
deadline = t0 + a.timeout
# A session of its own, so that everything it started can be ended at once.
p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                     stderr=subprocess.PIPE, bufsize=0, start_new_session=True)
buf = b""


def kill_all(sig):
    try:
        os.killpg(p.pid, sig)
    except ProcessLookupError:
        pass


def fail(msg):
    kill_all(signal.SIGKILL)
    p.wait()
    err = b""
    while select.select([p.stderr], [], [], 1)[0]:
        d = os.read(p.stderr.fileno(), 1 << 16)
        if not d:
            break
        err += d
    err = err.decode(errors="replace").strip().replace("\n", " | ")
    print("FAIL %s (stderr: %s)" % (msg, err[-300:]))
    sys.exit(1)


def send(o):
    p.stdin.write(json.dumps(o).encode() + b"\n")


def recv(until=None):
    global buf
    end = until or deadline
    while b"\n" not in buf:
        left = end - time.monotonic()
        if left <= 0:
            fail("timed out waiting for a message")
        r, _, _ = select.select([p.stdout], [], [], left)
        if r:
            d = os.read(p.stdout.fileno(), 1 << 16)
            if not d:
                fail("codex-connect closed its stdout (status %s)" % p.wait())
            buf += d
    line, buf = buf.split(b"\n", 1)
    return json.loads(line)


def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def tree_rss_kib(root):
    """The largest VmRSS among root and its descendants (codex-connect may run
    under timeout(1))."""
    kids = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            kids.setdefault(ppid, []).append(int(d))
    best, todo = 0, [root]
    while todo:
        pid = todo.pop()
        best = max(best, rss_kib(pid))
        todo.extend(kids.get(pid, []))
    return best


def finish(extra):
    p.stdin.close()
    try:
        rc = p.wait(max(1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        fail("codex-connect did not exit after stdin's EOF")
    print("OK %s exit=%d" % (extra, rc))
    sys.exit(0)


INIT = {"id": 1, "method": "initialize",
        "params": {"clientInfo": {"name": "backend-t", "version": "1"}}}

if a.mode in ("bigline", "nonl"):
    send(INIT)
    m = recv()
    t_err = time.monotonic() - t0
    e = m.get("error") or {}
    if "id" not in m or m["id"] is not None or "MaxMessage" not in e.get("message", ""):
        fail("expected the over-long line's error first, got %r" % m)
    word = e["message"].replace(" ", "_")
    if a.mode == "nonl":
        finish("error=%s seconds=%.2f" % (word, t_err))
    m = recv()
    if m.get("id") != 1 or "result" not in m:
        fail("initialize answered with %r" % m)
    send({"id": 2, "method": "fake/echo", "params": {"after": "bigline"}})
    m = recv()
    if m.get("id") != 2 or m.get("result") != {"after": "bigline"}:
        fail("the session after the long line answered %r" % m)
    finish("error=%s seconds=%.2f continued=1" % (word, t_err))

if a.mode == "closeout":
    send(INIT)
    m = recv()
    if m.get("id") != 1:
        fail("initialize answered with %r" % m)
    t1 = time.monotonic()
    try:
        rc = p.wait(max(1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        fail("the session did not end while the backend kept running")
    err = p.stderr.read().decode(errors="replace").strip().replace("\n", " | ")
    print("OK ended_after=%.1f exit=%d stderr=%s" % (time.monotonic() - t1, rc,
                                                     err.replace(" ", "_")))
    sys.exit(0)

# noread: write as fast as codex-connect reads, never blocking on it.
os.set_blocking(p.stdin.fileno(), False)
msg = (json.dumps({"method": "fake/flood", "params": {"pad": "y" * a.size}}) +
       "\n").encode()
sent = peak = 0
last_growth = last_rss = t0
pending = b""
end = t0 + a.secs
while time.monotonic() < end:
    if not pending:
        pending = msg
    r, w, _ = select.select([p.stdout], [p.stdin], [], 0.1)
    if r:
        if not os.read(p.stdout.fileno(), 1 << 16):
            fail("codex-connect closed its stdout (status %s)" % p.wait())
    if w:
        try:
            n = os.write(p.stdin.fileno(), pending)
            sent += n
            pending = pending[n:]
            last_growth = time.monotonic()
        except BlockingIOError:
            pass
    if time.monotonic() - last_rss >= 0.2:
        peak = max(peak, tree_rss_kib(p.pid))
        last_rss = time.monotonic()
peak = max(peak, tree_rss_kib(p.pid))
print("OK sent=%d taken_for=%.1f stalled_for=%.1f client_rss_max=%d" %
      (sent, last_growth - t0, time.monotonic() - last_growth, peak))
kill_all(signal.SIGTERM)
try:
    p.wait(10)
except subprocess.TimeoutExpired:
    kill_all(signal.SIGKILL)
    p.wait()
