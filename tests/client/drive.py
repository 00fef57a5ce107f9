#!/usr/bin/env python3
"""drive.py - a JSON-RPC driver for codex-connect --stdio (tests/client/*-t.sh).

Initialize, thread/start, one turn of N deltas from the fake app server, each
checked to arrive once and in order, then stdin EOF and the exit status.
--cut-at K:WORDS,... acts after delta K: relay words (see relay.py) sent to
--relay-pid through --ctl; "killserve" SIGKILLs the codex-subsystem whose
command line is --serve-cmdline; "kill:PID" SIGKILLs PID. --after-init WORDS
acts after initialize and waits for the client to exit by itself. --hostile
LINE (raw bytes, repeatable) is sent after initialize and the error it gets is
printed; codex-ssh/status then shows whether the remote session got only the
valid messages. Prints "OK deltas=N cuts=C exit=RC" or "FAIL why".
"""
import argparse, json, os, select, signal, subprocess, sys, time
ap = argparse.ArgumentParser()
ap.add_argument("--deltas", type=int, default=10)
ap.add_argument("--rate", default="0")
ap.add_argument("--cut-at", default="")
ap.add_argument("--after-init", default="")
ap.add_argument("--relay-pid", type=int, default=0)
ap.add_argument("--ctl", default="")
ap.add_argument("--timeout", type=float, default=60)
ap.add_argument("--bad-json", action="store_true")
ap.add_argument("--hostile", action="append", default=[])
ap.add_argument("--serve-cmdline", default="")
ap.add_argument("cmd", nargs=argparse.REMAINDER)
a = ap.parse_args()
cmd = a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd
cuts = {}
for w in filter(None, a.cut_at.split(",")):
    n, _, what = w.partition(":")
    cuts[int(n)] = what or "cut"
t0 = time.monotonic()
deadline = t0 + a.timeout
p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
buf = b""

def fail(msg):
    p.kill()
    print("FAIL " + msg)
    sys.exit(1)

def kill_serve():
    # The codex-subsystem of this test serving the channel: its exact command
    # line names the test's private config; killed by pid.
    want = a.serve_cmdline.split()
    for d in os.listdir("/proc"):
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                cl = f.read().decode(errors="replace").split("\0")[:-1]
        except (OSError, ValueError):
            continue
        # make check-valgrind: valgrind runs the program (another file of
        # the same name), named by a later word.
        vg = (len(cl) > len(want) and os.path.basename(cl[0]).startswith("valgrind") and
              cl[len(cl) - len(want) + 1:] == want[1:] and
              os.path.basename(cl[-len(want)]) == os.path.basename(want[0]))
        if d.isdigit() and (cl == want or vg):
            os.kill(int(d), signal.SIGKILL)

def relay(words):
    if words == "killserve":
        return kill_serve()
    if words.startswith("kill:"):
        # kill:PID: SIGKILL that process (a connection master).
        return os.kill(int(words[5:]), signal.SIGKILL)
    with open(a.ctl, "w") as f:
        f.write(words + "\n")
    os.kill(a.relay_pid, signal.SIGUSR1)

def send(o):
    p.stdin.write((o if isinstance(o, str) else json.dumps(o)).encode() + b"\n")

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
    return json.loads(line)

def answer(i):
    while True:
        m = recv()
        if m.get("id") == i:
            if "result" not in m:
                fail("request %d: %r" % (i, m))
            return m["result"]

init = {"id": 1, "method": "initialize",
        "params": {"clientInfo": {"name": "connect-t", "version": "1"}}}
send(init)
answer(1)
for h in a.hostile:
    p.stdin.write(os.fsencode(h) + b"\n")
    m = recv()
    if "error" not in m:
        fail("%r answered with %r" % (h, m))
    print("rejected %d %s" % (m["error"]["code"], json.dumps(m.get("id"))))
if a.hostile:
    st = {"id": 50, "method": "codex-ssh/status", "params": {}}
    send(st)
    got = [s["bytes_in"] for h in answer(50)["hosts"] for s in h["sessions"]
           if s["state"] == "attached"]
    want = len(json.dumps(init)) + len(json.dumps(st))
    if got == [want]:
        print("the remote got only the valid messages")
    else:
        print("the remote sessions got %r bytes, not [%d]" % (got, want))
if a.bad_json:
    send("{this is not json")
    m = recv()
    if m.get("id", 0) is not None or m.get("error", {}).get("code") != -32700:
        fail("invalid JSON answered with %r" % m)
    print("parse error -32700 id null")
if a.after_init:
    relay(a.after_init)
    try:
        rc = p.wait(max(1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        fail("codex-connect did not give up")
    print("EXIT %d after %.1f s" % (rc, time.monotonic() - t0))
    sys.exit(0)
send({"method": "initialized"})
send({"id": 2, "method": "thread/start", "params": {}})
tid = answer(2)["thread"]["id"]
send({"id": 3, "method": "turn/start", "params": {"threadId": tid, "input": [
    {"type": "text", "text": "deltas=%d rate=%s" % (a.deltas, a.rate)}]}})
k = ncut = 0
while True:
    m = recv()
    meth = m.get("method")
    if meth == "item/agentMessage/delta":
        d = m["params"]["delta"]
        if d != "d%d " % k:
            fail("delta %d is %r" % (k, d))
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
p.stdin.close()
try:
    rc = p.wait(max(1, deadline - time.monotonic()))
except subprocess.TimeoutExpired:
    fail("codex-connect did not exit after stdin EOF")
print("OK deltas=%d cuts=%d exit=%d" % (k, ncut, rc))
