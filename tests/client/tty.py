#!/usr/bin/env python3
"""tty.py - runs a command on a new pseudo-terminal and answers its prompts.

    tty.py [--timeout S] [--answer REGEX=TEXT]... -- COMMAND [ARG...]

The command gets a pty as its controlling terminal (and as stdin, stdout and
stderr), so what it asks on /dev/tty can be answered. Each --answer is used
once, in order: when the output seen since the previous answer matches REGEX
(Python re, searched), TEXT and a newline are typed (TEXT is what follows the
last "=", so REGEX may contain one). Everything the command
printed is copied to our stdout (with the terminal's \\r\\n turned into \\n).
Exits with the command's status (128 + N when killed by signal N), or 124
after killing it when it runs longer than --timeout seconds (default 30).
"""
import os
import sys

# This file is named like the standard module tty, which pty imports: keep our
# own directory out of the module path first.
_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _here]

import argparse  # noqa: E402
import pty  # noqa: E402
import re  # noqa: E402
import select  # noqa: E402
import signal  # noqa: E402
import time  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--timeout", type=float, default=30)
    ap.add_argument("--answer", action="append", default=[])
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    if not cmd:
        ap.error("no command")
    answers = []
    for w in a.answer:
        rx, sep, text = w.rpartition("=")
        if not sep:
            ap.error("--answer wants REGEX=TEXT")
        answers.append((re.compile(rx), text))

    pid, fd = pty.fork()
    if pid == 0:
        try:
            os.execvp(cmd[0], cmd)
        finally:
            os._exit(127)

    deadline = time.monotonic() + a.timeout
    seen = ""
    out = sys.stdout.buffer
    status = None
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            out.write(b"\ntty.py: timed out\n")
            out.flush()
            sys.exit(124)
        r, _, _ = select.select([fd], [], [], min(left, 0.2))
        if r:
            try:
                data = os.read(fd, 65536)
            except OSError:       # EIO: every holder of the slave closed it
                data = b""
            if not data:
                break
            out.write(data.replace(b"\r\n", b"\n"))
            out.flush()
            seen += data.decode("utf-8", "replace")
            if answers and answers[0][0].search(seen):
                os.write(fd, answers[0][1].encode() + b"\n")
                answers.pop(0)
                seen = ""
            continue
        # Quiet for a moment: done once the command has exited.
        if status is not None:
            break
        wpid, st = os.waitpid(pid, os.WNOHANG)
        if wpid == pid:
            status = st
    while status is None and time.monotonic() < deadline:
        wpid, st = os.waitpid(pid, os.WNOHANG)
        if wpid == pid:
            status = st
        else:
            time.sleep(0.05)
    if status is None:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        sys.exit(124)
    os.close(fd)
    if os.WIFSIGNALED(status):
        sys.exit(128 + os.WTERMSIG(status))
    sys.exit(os.WEXITSTATUS(status))


if __name__ == "__main__":
    main()
