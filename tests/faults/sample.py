#!/usr/bin/env python3
"""sample.py - watches a session host while a fault test runs (disk-t.sh, backend-t.sh).

Every --interval seconds, until --pid exits or --secs pass, it reads
`codex-subsystem status --json -f CONF` and, for the sessions of --backend (all
when not given), keeps:

  max_mem, max_disk   the largest journal_mem_bytes / journal_disk_bytes seen;
  stall               the longest time (s) one session's messages_out stood still
                      while its journal was at a bound (bytes on disk, or a spill
                      error): the backend was not read, i.e. back-pressure;
  stall_msgs          messages_out during that stall;
  states, errors      the session states and journal_error values seen;
  host_rss_max        the largest VmRSS (KiB) of the host process (host_pid);

and prints them as one line "SAMPLE key=value ...". --text FILE saves the text
form of `codex-subsystem status` the first time a journal error shows.
"""
import argparse, json, os, subprocess, sys, time

ap = argparse.ArgumentParser()
ap.add_argument("--sub", required=True)
ap.add_argument("--conf", required=True)
ap.add_argument("--backend", default="")
ap.add_argument("--pid", type=int, default=0)
ap.add_argument("--secs", type=float, default=60)
ap.add_argument("--interval", type=float, default=0.1)
ap.add_argument("--text", default="")
a = ap.parse_args()


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def status():
    try:
        r = subprocess.run([a.sub, "status", "--json", "-f", a.conf],
                           capture_output=True, timeout=10)
        return json.loads(r.stdout)
    except (subprocess.TimeoutExpired, ValueError):
        return {"hosts": []}


max_mem = max_disk = rss_max = 0
stall = 0.0
stall_msgs = -1
states, errors = set(), set()
seen = {}          # session id -> (messages_out, since)
text_saved = False
end = time.monotonic() + a.secs
while time.monotonic() < end and (a.pid == 0 or alive(a.pid)):
    st = status()
    now = time.monotonic()
    for h in st.get("hosts", []):
        rss_max = max(rss_max, rss_kib(int(h.get("host_pid") or 0)))
        for s in h.get("sessions", []):
            if a.backend and s.get("backend") != a.backend:
                continue
            mem, disk = s["journal_mem_bytes"], s["journal_disk_bytes"]
            err = s.get("journal_error")
            max_mem, max_disk = max(max_mem, mem), max(max_disk, disk)
            states.add(s["state"])
            if err:
                errors.add(err)
                if a.text and not text_saved:
                    t = subprocess.run([a.sub, "status", "-f", a.conf],
                                       capture_output=True, timeout=10)
                    with open(a.text, "wb") as f:
                        f.write(t.stdout)
                    text_saved = True
            key = (h.get("host_pid"), s["id"])
            out = s["messages_out"]
            if key not in seen or seen[key][0] != out:
                seen[key] = (out, now)
            elif disk > 0 or err:
                if now - seen[key][1] > stall:
                    stall, stall_msgs = now - seen[key][1], out
    time.sleep(a.interval)

print("SAMPLE max_mem=%d max_disk=%d stall=%.1f stall_msgs=%d host_rss_max=%d "
      "states=%s errors=%s" % (max_mem, max_disk, stall, stall_msgs, rss_max,
                               ",".join(sorted(states)) or "-",
                               "|".join(sorted(errors)).replace(" ", "_") or "-"))
