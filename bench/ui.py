#!/usr/bin/env python3
"""Benchmark the dashboard (`bts ui`) in a real terminal (tmux).

  U1  20 idle tasks, `bts ui` attached for IDLE seconds: CPU of the `bts ui` process
      (utime+stime from /proc) as a percentage of one core.
  U2  10 tasks flooding output (`yes`), `bts ui` attached showing the merged log: the
      time from sending a key (`j`, select the next task) until the screen shows the new
      selection, over KEYS presses (tmux capture-pane polled every 5 ms, so the numbers
      include tmux's own latency). Also the dashboard's CPU during the flood.

Usage: python3 bench/ui.py [--idle 15] [--keys 20] [--no-build]
Needs tmux. Every process it starts runs under its own tmux server (socket in a temp
dir) or in the project's supervisor; every exit path runs `bts down` and kills the
tmux server.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

from common import bts_path, cpu_ticks


def cpu_seconds(pid):
    return cpu_ticks(pid) / os.sysconf("SC_CLK_TCK")


class Stack:
    def __init__(self, bts, tasks):
        self.bts = bts
        self.dir = tempfile.mkdtemp(prefix="bts-ui-bench-")
        with open(os.path.join(self.dir, "bts.yaml"), "w") as f:
            f.write("name: bench\ntasks:\n")
            for name, cmd in tasks:
                f.write("  %s:\n    cmd: %s\n" % (name, cmd))
        self.sock = os.path.join(self.dir, "tmux.sock")

    def __enter__(self):
        subprocess.run([self.bts, "up", "--wait"], cwd=self.dir, check=True,
                       stdout=subprocess.DEVNULL)
        return self

    def __exit__(self, *exc):
        subprocess.run(["tmux", "-S", self.sock, "kill-server"], stderr=subprocess.DEVNULL)
        subprocess.run([self.bts, "down"], cwd=self.dir, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=60)

    def tmux(self, *args):
        return subprocess.run(["tmux", "-S", self.sock] + list(args), capture_output=True,
                              text=True).stdout

    def ui(self, width=120, height=40):
        self.tmux("-f", "/dev/null", "new-session", "-d", "-s", "t", "-x", str(width), "-y",
                  str(height), "-c", self.dir, "exec %s ui" % self.bts)
        pid = int(self.tmux("display-message", "-p", "-t", "t", "#{pane_pid}").strip())
        deadline = time.time() + 20
        while "tasks:" not in self.screen():
            if time.time() > deadline:
                sys.exit("the dashboard did not come up:\n" + self.screen())
            time.sleep(0.05)
        return pid

    def screen(self):
        return self.tmux("capture-pane", "-p", "-t", "t")


def selected(screen):
    for line in screen.splitlines():
        if line.startswith("> ") and " · next: " in line:
            return line.split()[1]
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--idle", type=float, default=15)
    ap.add_argument("--keys", type=int, default=20)
    ap.add_argument("--no-build", action="store_true")
    args = ap.parse_args()
    bts = bts_path(args.no_build)

    idle_tasks = [("t%02d" % i, "exec sleep 3600") for i in range(20)]
    with Stack(bts, idle_tasks) as s:
        pid = s.ui()
        time.sleep(2)  # past the first draws
        c0, t0 = cpu_seconds(pid), time.time()
        time.sleep(args.idle)
        c1, t1 = cpu_seconds(pid), time.time()
        idle = 100 * (c1 - c0) / (t1 - t0)
        print("U1 20 idle tasks, %.0f s: bts ui CPU %.2f %% of a core" % (t1 - t0, idle))

    floods = [
        ("10 tasks at full speed (yes: every core saturated)",
         [("f%d" % i, "exec yes 'flood line %d with some text to make it eighty bytes long....'" % i)
          for i in range(10)]),
        ("10 tasks x ~10,000 lines/s",
         [("f%d" % i, "while :; do seq -f 'flood line %%g of task %d, padded to look like a log line' 1 500; sleep 0.05; done" % i)
          for i in range(10)]),
    ]
    for label, flood in floods:
        key_latency(bts, label, flood, args.keys)


def key_latency(bts, label, flood, keys):
    with Stack(bts, flood) as s:
        pid = s.ui()
        s.tmux("send-keys", "-t", "t", "a")  # every log, merged
        time.sleep(2)
        c0, t0 = cpu_seconds(pid), time.time()
        lat = []
        for _ in range(keys):
            before = selected(s.screen())
            start = time.time()
            s.tmux("send-keys", "-t", "t", "j" if before != "f9" else "k")
            while selected(s.screen()) == before:
                if time.time() - start > 10:
                    sys.exit("no reaction to a key in 10 s")
                time.sleep(0.005)
            lat.append(1000 * (time.time() - start))
            time.sleep(0.2)
        c1, t1 = cpu_seconds(pid), time.time()
        print("U2 %s: key to screen median %.0f ms, max %.0f ms over %d keys; "
              "bts ui CPU %.0f %% of a core" % (label, statistics.median(lat), max(lat), len(lat),
                                               100 * (c1 - c0) / (t1 - t0)))


if __name__ == "__main__":
    main()
