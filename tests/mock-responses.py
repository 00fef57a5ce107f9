#!/usr/bin/env python3
"""mock-responses.py - a mock of the OpenAI Responses API for the real Codex app
server, so that tests and the demo run real turns with no account and no network.

    mock-responses.py [--port-file FILE] [--log FILE] [--lifetime SECONDS]

It listens on an ephemeral port of 127.0.0.1 (written to --port-file once it
listens; the only address it ever binds) and answers `POST /v1/responses` with a
`text/event-stream` of Responses events (see CODEX-FACTS.md). What it answers is
chosen by words in the text of the last user message of the request:

    deltas=N      a streamed assistant message of N `response.output_text.delta`
                  events "d0 ", "d1 ", ... (the fake app server's format, so the
                  same checks work), the final text being their concatenation
    rate=R        (with deltas=N) at most R deltas per second
    exec=CMD      an `exec_command` function call running CMD (the rest of the
                  text after "exec="; quote it with 'single quotes' to stop
                  earlier); once the app server posts the command's output, a
                  final message "Ran it, exit code N: <last line of output>"
                  (or "The command was declined.") in one delta per word
    approve       like exec= (default command `echo approved-command-ran`) but the
                  call asks for "require_escalated" sandbox permissions, which
                  makes an `on-request` + `read-only` app server ask the client
    bigout        a command printing 1,000,000 bytes ("x" repeated, no newline)
    story         a few sentences about the path the answer took, one word per
                  delta, 25 words a second (for the demo)
    recall        "Earlier you said: <the first earlier user message>." (how a
                  test sees that a resumed thread kept its history)
    fail          an HTTP 500 instead of a stream
    (nothing)     "Hello from the mock model." in three deltas

Any other path gets 404 (the app server may ask for /v1/models: it gets an
empty list). Every request is logged to --log (one line: the path, the chosen
behaviour and the last user text), for debugging. The process exits after
--lifetime seconds (default 900) even if nobody stops it, and on SIGTERM.
"""
import argparse
import http.server
import json
import os
import re
import signal
import socketserver
import sys
import threading
import time

HELLO = "Hello from the mock model."
STORY = ("Hello from the mock model. These words were streamed one delta at a time by "
         "the real Codex app server, which runs behind sshd as the codex subsystem, "
         "and reached you through a single SSH channel: codex-ssh opened no port on "
         "either end.")
BIG_CMD = "head -c 1000000 /dev/zero | tr '\\0' x"
USAGE = {"input_tokens": 0, "input_tokens_details": None, "output_tokens": 0,
         "output_tokens_details": None, "total_tokens": 0}

args = None
logf = None
log_lock = threading.Lock()
counter_lock = threading.Lock()
counter = [0]


def log(msg):
    if logf is None:
        return
    with log_lock:
        logf.write("%.3f %s\n" % (time.monotonic(), msg))
        logf.flush()


def next_id():
    with counter_lock:
        counter[0] += 1
        return counter[0]


def item_text(item):
    """The text of a message item of the request's input, or None."""
    if item.get("type", "message") != "message":
        return None
    c = item.get("content")
    if isinstance(c, str):
        return c
    if isinstance(c, list):
        return "".join(p.get("text", "") for p in c if isinstance(p, dict))
    return None


def analyse(body):
    """(last user text, output of a function call after it or None, the user
    texts before the last)."""
    items = body.get("input") or []
    if isinstance(items, str):
        return items, None, []
    last_user, idx, users = "", -1, []
    for i, it in enumerate(items):
        if isinstance(it, dict) and it.get("role") == "user":
            t = item_text(it)
            # The app server adds context blocks as user messages too
            # (<environment_context>, <user_instructions>, ...): skip them.
            if t is not None and not t.lstrip().startswith("<"):
                last_user, idx = t, i
                users.append(t)
    output = None
    for it in items[idx + 1:]:
        if isinstance(it, dict) and it.get("type") in (
                "function_call_output", "custom_tool_call_output"):
            o = it.get("output")
            if isinstance(o, dict):
                o = o.get("content", json.dumps(o))
            elif isinstance(o, list):
                o = "".join(p.get("text", "") for p in o if isinstance(p, dict))
            output = o if isinstance(o, str) else json.dumps(o)
    return last_user, output, users[:-1]


def command_of(text):
    m = re.search(r"exec='([^']*)'", text)
    if m:
        return m.group(1)
    m = re.search(r"exec=(.*)$", text, re.S)
    if m:
        return m.group(1).strip()
    return None


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mock-responses/1"

    def log_message(self, fmt, *a):
        log("http " + (fmt % a))

    def reply(self, code, obj):
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path.rstrip("/").endswith("/models"):
            self.reply(200, {"object": "list", "data": [], "models": []})
        else:
            self.reply(404, {"error": {"message": "not here: " + self.path}})

    def event(self, obj):
        self.wfile.write(("event: %s\ndata: %s\n\n" % (obj["type"], json.dumps(obj))).encode())

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n > 0 else b""
        if not self.path.rstrip("/").endswith("/responses"):
            self.reply(404, {"error": {"message": "not here: " + self.path}})
            return
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self.reply(400, {"error": {"message": "request is not JSON"}})
            return
        text, output, earlier = analyse(body)
        rid = "resp-%d" % next_id()
        if "fail" in text.split() and output is None:
            log("POST %s fail %r" % (self.path, text[:200]))
            self.reply(500, {"error": {"message": "mock failure"}})
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        try:
            self.event({"type": "response.created", "response": {"id": rid}})
            what = self.respond(rid, text, output, earlier)
            self.event({"type": "response.completed",
                        "response": {"id": rid, "usage": USAGE}})
            self.wfile.flush()
            log("POST %s %s %r" % (self.path, what, text[:200]))
        except (BrokenPipeError, ConnectionResetError) as e:
            log("POST %s client went away: %s" % (self.path, e))

    def message(self, rid, chunks, rate=0):
        mid = "msg-" + rid
        self.event({"type": "response.output_item.added", "output_index": 0,
                    "item": {"type": "message", "role": "assistant", "id": mid,
                             "content": []}})
        t0 = time.monotonic()
        batch = []
        for k, c in enumerate(chunks):
            batch.append("event: response.output_text.delta\ndata: %s\n\n" % json.dumps(
                {"type": "response.output_text.delta", "item_id": mid,
                 "output_index": 0, "content_index": 0, "delta": c}))
            if rate > 0:
                due = t0 + (k + 1) / rate
                wait = due - time.monotonic()
                if wait > 0.002:
                    self.wfile.write("".join(batch).encode())
                    self.wfile.flush()
                    batch = []
                    time.sleep(wait)
            if len(batch) >= 256:
                self.wfile.write("".join(batch).encode())
                batch = []
        if batch:
            self.wfile.write("".join(batch).encode())
        self.event({"type": "response.output_item.done", "output_index": 0,
                    "item": {"type": "message", "role": "assistant", "id": mid,
                             "content": [{"type": "output_text",
                                          "text": "".join(chunks)}]}})

    def call(self, rid, cmd, escalate):
        a = {"cmd": cmd}
        if escalate:
            a["sandbox_permissions"] = "require_escalated"
            a["justification"] = "The mock model wants to run this command"
        self.event({"type": "response.output_item.done", "output_index": 0,
                    "item": {"type": "function_call", "id": "fc-" + rid,
                             "call_id": "call-" + rid, "name": "exec_command",
                             "arguments": json.dumps(a)}})

    def respond(self, rid, text, output, earlier):
        words = text.split()
        if output is not None:
            # The app server posts the command's output: the turn's last answer.
            m = re.search(r"Output:\n(.*)", output, re.S)
            body = m.group(1) if m else output
            lines = [l.strip() for l in body.strip().splitlines() if l.strip()]
            last = lines[-1] if lines else "(no output)"
            if len(last) > 60:
                last = last[:20] + "... (%d characters)" % len(last)
            code = re.search(r"exited with code (-?\d+)", output)
            if "Rejected(" in output or "rejected by user" in output:
                msg = "The command was declined."
            elif code:
                msg = "Ran it, exit code %s: %s" % (code.group(1), last)
            else:
                msg = "Ran it: %s" % last
            self.message(rid, [w + " " for w in msg.split(" ")[:-1]] + [msg.split(" ")[-1]])
            return "final-after-call (%d bytes of output: %r)" % (len(output), output[:300])
        cmd = command_of(text)
        if "bigout" in words:
            self.call(rid, BIG_CMD, False)
            return "bigout"
        if "approve" in words:
            self.call(rid, cmd or "echo approved-command-ran", True)
            return "approve"
        if cmd:
            self.call(rid, cmd, False)
            return "exec"
        if "story" in words:
            self.message(rid, [w + " " for w in STORY.split(" ")[:-1]] + [STORY.split(" ")[-1]], 25)
            return "story"
        if "recall" in words:
            msg = "Earlier you said: %s." % (earlier[0] if earlier else "nothing")
            self.message(rid, [w + " " for w in msg.split(" ")[:-1]] + [msg.split(" ")[-1]])
            return "recall (%d earlier)" % len(earlier)
        m = re.search(r"\bdeltas=(\d+)", text)
        if m:
            n = int(m.group(1))
            r = re.search(r"\brate=(\d+)", text)
            self.message(rid, ["d%d " % k for k in range(n)], int(r.group(1)) if r else 0)
            return "deltas=%d" % n
        self.message(rid, ["Hello ", "from the ", "mock model."])
        return "hello"


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    global args, logf
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port-file")
    ap.add_argument("--log")
    ap.add_argument("--lifetime", type=float, default=900)
    args = ap.parse_args()
    if args.log:
        logf = open(args.log, "a")
    srv = Server(("127.0.0.1", 0), Handler)
    port = srv.server_address[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.rename(tmp, args.port_file)
    log("listening on 127.0.0.1:%d, pid %d" % (port, os.getpid()))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    timer = threading.Timer(args.lifetime, lambda: os._exit(0))
    timer.daemon = True
    timer.start()
    try:
        srv.serve_forever(poll_interval=0.2)
    except (KeyboardInterrupt, SystemExit):
        pass
    log("exiting")


if __name__ == "__main__":
    main()
