#!/usr/bin/env python3
"""relay.py - a TCP relay on 127.0.0.1 that a test can cut and restore.

    relay.py --target PORT [--port-file FILE] [--ctl FILE] [--log FILE]
             [--lifetime SECONDS]

It listens on an ephemeral port of 127.0.0.1 (written to --port-file once it
listens), forwards every connection to 127.0.0.1:PORT, and obeys commands. A
command is applied on SIGUSR1: the words in the --ctl file, in order (the file
is read each time; no file, or an empty one, means "cut"):

    cut      reset every current connection (RST to both ends)
    stall    stop forwarding on every current connection without closing it,
             as a network that silently drops everything would (new
             connections are forwarded normally)
    refuse   stop listening: new connections get "Connection refused"
    open     listen again (on the same port)
    hole     a black hole for new connections: accepted, never forwarded nor
             answered (the client's connect times out), as when the network
             is down; with stall, a full outage
    heal     new connections are forwarded again (stalled ones stay dead)

After each command it logs "ack N WORDS" (N counts the commands from 1), so a
test can wait for it. It also logs "accept N" for the Nth connection and
"cut M" with the number of connections it reset. Every log line ends with
" at=T", T being CLOCK_MONOTONIC in seconds (Python's time.monotonic() in any
process), for measurements. It exits on SIGTERM or
SIGINT, or after --lifetime seconds (default 300), so a test that dies cannot
leave it behind. Nothing but 127.0.0.1 is ever touched.
"""
import argparse
import os
import selectors
import signal
import socket
import struct
import sys
import time

BUF = 256 * 1024


class Pair:
    def __init__(self, down, up):
        self.down = down          # the client's connection
        self.up = up              # ours to the target
        self.stalled = False
        self.out = {down: bytearray(), up: bytearray()}   # bytes owed to a socket

    def peer(self, s):
        return self.up if s is self.down else self.down


class Relay:
    def __init__(self, args):
        self.a = args
        self.sel = selectors.DefaultSelector()
        self.lsock = None
        self.port = 0
        self.pairs = {}           # socket -> Pair
        self.naccept = 0
        self.ncmd = 0
        self.pending = 0
        self.hole = False
        self.held = []            # connections swallowed by the hole
        self.logf = open(args.log, "a", buffering=1) if args.log else sys.stderr
        self.deadline = time.monotonic() + args.lifetime
        self.stop = False
        # Signals wake select() through this pipe (PEP 475 would otherwise
        # restart it and delay a command by up to its timeout).
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)
        signal.set_wakeup_fd(self.wake_w)
        self.sel.register(self.wake_r, selectors.EVENT_READ, "wake")

    def log(self, msg):
        self.logf.write("%s at=%.6f\n" % (msg, time.monotonic()))

    def listen(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(64)
        s.setblocking(False)
        self.port = s.getsockname()[1]
        self.lsock = s
        self.sel.register(s, selectors.EVENT_READ, "listen")

    def unlisten(self):
        if self.lsock is not None:
            self.sel.unregister(self.lsock)
            self.lsock.close()
            self.lsock = None

    def update(self, p):
        """Registers both sockets of p for what they can do now."""
        for s in (p.down, p.up):
            ev = 0
            if not p.stalled:
                if len(p.out[p.peer(s)]) < BUF:
                    ev |= selectors.EVENT_READ
                if p.out[s]:
                    ev |= selectors.EVENT_WRITE
            try:
                key = self.sel.get_key(s)
            except KeyError:
                key = None
            if ev and key is None:
                self.sel.register(s, ev, "data")
            elif ev and key.events != ev:
                self.sel.modify(s, ev, "data")
            elif not ev and key is not None:
                self.sel.unregister(s)

    def drop(self, p, rst):
        for s in (p.down, p.up):
            self.pairs.pop(s, None)
            try:
                self.sel.unregister(s)
            except (KeyError, ValueError):
                pass
            if rst:
                try:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                 struct.pack("ii", 1, 0))
                except OSError:
                    pass
            s.close()

    def accept(self):
        while self.lsock is not None:
            try:
                down, _ = self.lsock.accept()
            except (BlockingIOError, InterruptedError):
                return
            self.naccept += 1
            if self.hole:
                self.held.append(down)
                self.log("accept %d: into the hole" % self.naccept)
                continue
            up = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            up.settimeout(5)
            try:
                up.connect(("127.0.0.1", self.a.target))
            except OSError as e:
                self.log("accept %d: cannot reach the target: %s" % (self.naccept, e))
                up.close()
                down.close()
                continue
            for s in (down, up):
                s.setblocking(False)
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            p = Pair(down, up)
            self.pairs[down] = p
            self.pairs[up] = p
            self.update(p)
            self.log("accept %d" % self.naccept)

    def io(self, s, mask):
        p = self.pairs.get(s)
        if p is None or p.stalled:
            return
        if mask & selectors.EVENT_WRITE and p.out[s]:
            try:
                n = s.send(p.out[s])
                del p.out[s][:n]
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                self.drop(p, True)
                return
        if mask & selectors.EVENT_READ:
            try:
                data = s.recv(BUF)
            except (BlockingIOError, InterruptedError):
                data = None
            except OSError:
                self.drop(p, True)
                return
            if data == b"":
                # One side closed: close both (SSH does not half-close TCP).
                self.drop(p, False)
                return
            if data:
                p.out[p.peer(s)] += data
        self.update(p)

    def command(self):
        words = []
        if self.a.ctl:
            try:
                with open(self.a.ctl) as f:
                    words = f.read().split()
            except OSError:
                pass
        if not words:
            words = ["cut"]
        for w in words:
            if w == "cut":
                n = 0
                for p in set(self.pairs.values()):
                    self.drop(p, True)
                    n += 1
                self.log("cut %d" % n)
            elif w == "stall":
                for p in set(self.pairs.values()):
                    p.stalled = True
                    self.update(p)
            elif w == "refuse":
                self.unlisten()
            elif w == "open":
                if self.lsock is None:
                    self.listen()
            elif w == "hole":
                self.hole = True
            elif w == "heal":
                self.hole = False
            else:
                self.log("unknown command %s" % w)
        self.ncmd += 1
        self.log("ack %d %s" % (self.ncmd, " ".join(words)))

    def run(self):
        self.listen()
        if self.a.port_file:
            tmp = self.a.port_file + ".tmp"
            with open(tmp, "w") as f:
                f.write("%d\n" % self.port)
            os.rename(tmp, self.a.port_file)
        self.log("listening on 127.0.0.1:%d -> 127.0.0.1:%d" % (self.port, self.a.target))
        while not self.stop:
            left = self.deadline - time.monotonic()
            if left <= 0:
                self.log("lifetime over")
                break
            try:
                events = self.sel.select(min(left, 0.5))
            except InterruptedError:
                events = []
            while self.pending > 0:
                self.pending -= 1
                self.command()
            for key, mask in events:
                if key.data == "wake":
                    try:
                        os.read(self.wake_r, 256)
                    except BlockingIOError:
                        pass
                elif key.data == "listen":
                    if key.fileobj is self.lsock:
                        self.accept()
                else:
                    self.io(key.fileobj, mask)
        for p in set(self.pairs.values()):
            self.drop(p, False)
        for s in self.held:
            s.close()
        self.unlisten()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--target", type=int, required=True)
    ap.add_argument("--port-file")
    ap.add_argument("--ctl")
    ap.add_argument("--log")
    ap.add_argument("--lifetime", type=float, default=300)
    r = Relay(ap.parse_args())

    def on_usr1(sig, frame):
        r.pending += 1

    def on_term(sig, frame):
        r.stop = True

    signal.signal(signal.SIGUSR1, on_usr1)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    r.run()


if __name__ == "__main__":
    main()
