#!/usr/bin/env python3
"""fdrive.py - the fault tests' driver and process census (tests/faults/*-t.sh).

    fdrive.py turn [options] -- codex-connect ARGS... --stdio
        initialize, thread/start and one turn of --deltas N deltas at --rate R
        (the fake app server's knobs) through codex-connect --stdio; every delta
        is checked to be the next one ("d<k> "): a duplicate, a gap or a turn
        that completes short fails at once. --kill-at K --victim KIND SIGKILLs
        one process after the Kth delta: connect (codex-connect itself),
        subsystem (the channel's codex-subsystem), host (the session host) or
        backend, the remote ones found among --uid's processes. --mark-at K
        appends "at K" to --mark-file instead (the calling shell acts on it).
        --slow-read EVERY:SECONDS pauses reading that long after every EVERY
        deltas (a slow client: the remote journal grows). After turn/completed
        stdin is closed; after the end of stdout the exit status is awaited.
        Every wait is bounded by --timeout. Prints one line:
          RESULT end=completed|eof deltas=K exit=RC victim_pid=P secs=T
        or "FAIL why" (exit 1). codex-connect's stderr goes to --stderr.

    fdrive.py procs --uid UID --fake PATH [--client-mark TEXT]
        One line per process of ours: KIND PID CMDLINE, KIND being host,
        subsystem, backend, sshd (the user's side of an sshd session), other
        (anything else of UID) or connect (a codex-connect whose command line
        contains TEXT, whoever runs it).

    fdrive.py journal --dir DIR --uid UID
        What the journal leaves behind: "file PATH" for every file under DIR
        but the host marks in DIR/hosts, and "fd PID TARGET" for every
        descriptor of UID's processes that points into DIR ("(deleted)" and
        O_TMPFILE ones end in " (deleted)").
"""
import argparse, json, os, select, signal, subprocess, sys, time


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().decode(errors="replace").split("\0")[:-1]
    except OSError:
        return None


def pids():
    for d in os.listdir("/proc"):
        if d.isdigit():
            yield int(d)


def owner(pid):
    try:
        return os.stat("/proc/%d" % pid).st_uid
    except OSError:
        return -1


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read().rsplit(")", 1)[1].split()[0]
        return st not in ("Z", "X")
    except (OSError, IndexError):
        return False


def kind_of(pid, uid, fake, mark):
    cl = cmdline(pid)
    if not cl or not alive(pid):
        return None
    # The program is argv[0], or a later word when a wrapper runs it (valgrind
    # in `make check-valgrind`).
    j = next((i for i, w in enumerate(cl) if os.path.basename(w) in
              ("codex-connect", "codex-subsystem")), -1)
    base = os.path.basename(cl[j]) if j >= 0 else ""
    if base == "codex-connect" and mark and mark in " ".join(cl):
        return "connect"
    if owner(pid) != uid:
        return None
    if base == "codex-subsystem":
        return "host" if cl[j + 1:j + 2] == ["host"] else "subsystem"
    try:
        if os.path.realpath("/proc/%d/exe" % pid) == fake:
            return "backend"
    except OSError:
        pass
    if cl[0].startswith("sshd:"):
        return "sshd"
    return "other"


def census(uid, fake, mark):
    out = []
    for pid in pids():
        if pid == os.getpid():
            continue
        k = kind_of(pid, uid, fake, mark)
        if k is not None:
            out.append((k, pid, " ".join(cmdline(pid) or [])))
    return out


def cmd_procs(a):
    for k, pid, cl in census(a.uid, os.path.realpath(a.fake), a.client_mark):
        print("%s %d %s" % (k, pid, cl))


def cmd_journal(a):
    d = os.path.realpath(a.dir)
    for root, dirs, files in os.walk(d):
        for f in files:
            p = os.path.join(root, f)
            rel = os.path.relpath(p, d)
            if rel.startswith("hosts" + os.sep) and (f == "killed" or
                                                     f.endswith(".alive")):
                continue
            print("file " + p)
    for pid in pids():
        if owner(pid) != a.uid:
            continue
        try:
            fds = os.listdir("/proc/%d/fd" % pid)
        except OSError:
            continue
        for fd in fds:
            try:
                t = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            except OSError:
                continue
            if t == d or t.startswith(d + "/"):
                print("fd %d %s" % (pid, t))


def cmd_turn(a):
    cmd = a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd
    t0 = time.monotonic()
    deadline = t0 + a.timeout
    err = open(a.stderr, "wb") if a.stderr else None
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=err, bufsize=0)

    def on_signal(sig, frame):
        # The test is being stopped: codex-connect goes with us.
        p.kill()
        sys.exit(128 + sig)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)
    buf = b""
    victim = [0]
    every, pause = 0, 0.0
    if a.slow_read:
        e, _, s = a.slow_read.partition(":")
        every, pause = int(e), float(s)

    def fail(msg):
        p.kill()
        p.wait()
        print("FAIL %s (after %.1f s)" % (msg, time.monotonic() - t0))
        sys.exit(1)

    def wait_exit(what):
        try:
            return p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            fail("codex-connect did not exit " + what)

    def recv():
        """The next message, or None at the end of stdout."""
        nonlocal buf
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0:
                fail("timed out: no end and no message (a hang)")
            r, _, _ = select.select([p.stdout], [], [], left)
            if r:
                d = os.read(p.stdout.fileno(), 1 << 16)
                if not d:
                    # Only a killed codex-connect may leave a line unfinished.
                    if buf and victim[0] != p.pid:
                        fail("stdout ended inside a line: %r" % buf[:80])
                    return None
                buf += d
        line, buf = buf.split(b"\n", 1)
        try:
            return json.loads(line)
        except ValueError:
            fail("not JSON on stdout: %r" % line[:200])

    def send(o):
        try:
            p.stdin.write(json.dumps(o).encode() + b"\n")
        except BrokenPipeError:
            pass

    def answer(i):
        while True:
            m = recv()
            if m is None:
                fail("stdout ended before the answer to request %d (exit %s)" %
                     (i, wait_exit("after the end of its stdout")))
            if m.get("id") == i:
                if "result" not in m:
                    fail("request %d: %r" % (i, m))
                return m["result"]

    def strike():
        if a.mark_at >= 0:
            with open(a.mark_file, "a") as f:
                f.write("at %d\n" % k)
            return
        if a.victim == "connect":
            pid = p.pid
        else:
            found = [q for kk, q, _ in census(a.uid, os.path.realpath(a.fake), "")
                     if kk == a.victim]
            if len(found) != 1:
                fail("%d %s processes to kill, not 1: %r" % (len(found), a.victim,
                     census(a.uid, os.path.realpath(a.fake), "")))
            pid = found[0]
        os.kill(pid, signal.SIGKILL)
        victim[0] = pid

    send({"id": 1, "method": "initialize",
          "params": {"clientInfo": {"name": "fault-t", "version": "1"}}})
    answer(1)
    send({"method": "initialized"})
    send({"id": 2, "method": "thread/start", "params": {}})
    tid = answer(2)["thread"]["id"]
    send({"id": 3, "method": "turn/start", "params": {"threadId": tid, "input": [
        {"type": "text", "text": "deltas=%d rate=%s" % (a.deltas, a.rate)}]}})
    at = a.kill_at if a.kill_at >= 0 else a.mark_at
    k = 0
    end = "eof"
    if at == 0:
        strike()
    while True:
        m = recv()
        if m is None:
            break
        meth = m.get("method")
        if meth == "item/agentMessage/delta":
            d = m["params"]["delta"]
            if d != "d%d " % k:
                fail("delta %d is %r (a %s)" % (k, d, "duplicate" if
                     d.startswith("d") and d[1:].strip().isdigit() and
                     int(d[1:]) < k else "gap"))
            k += 1
            if k == at:
                strike()
            if every and k % every == 0:
                time.sleep(pause)
        elif meth == "turn/completed":
            st = m["params"]["turn"]["status"]
            if st != "completed" or k != a.deltas:
                fail("the turn ended %s after %d of %d deltas" % (st, k, a.deltas))
            end = "completed"
            p.stdin.close()
            # What follows (nothing, or the reason the session ended) is read
            # to the end of stdout.
            while True:
                m = recv()
                if m is None:
                    break
                if "id" in m and "method" not in m:
                    fail("an answer after the turn: %r" % m)
            break
    rc = wait_exit("after the end of its stdout")
    print("RESULT end=%s deltas=%d exit=%d victim_pid=%d secs=%.2f" % (
        end, k, rc, victim[0], time.monotonic() - t0))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="what", required=True)
    t = sub.add_parser("turn")
    t.add_argument("--deltas", type=int, default=1000)
    t.add_argument("--rate", default="0")
    t.add_argument("--kill-at", type=int, default=-1)
    t.add_argument("--victim", choices=["connect", "subsystem", "host", "backend"])
    t.add_argument("--mark-at", type=int, default=-1)
    t.add_argument("--mark-file", default="")
    t.add_argument("--slow-read", default="")
    t.add_argument("--uid", type=int, default=-1)
    t.add_argument("--fake", default="")
    t.add_argument("--timeout", type=float, default=60)
    t.add_argument("--stderr", default="")
    t.add_argument("cmd", nargs=argparse.REMAINDER)
    pr = sub.add_parser("procs")
    pr.add_argument("--uid", type=int, required=True)
    pr.add_argument("--fake", required=True)
    pr.add_argument("--client-mark", default="")
    j = sub.add_parser("journal")
    j.add_argument("--dir", required=True)
    j.add_argument("--uid", type=int, required=True)
    a = ap.parse_args()
    {"turn": cmd_turn, "procs": cmd_procs, "journal": cmd_journal}[a.what](a)


if __name__ == "__main__":
    main()
