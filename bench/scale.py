#!/usr/bin/env python3
"""Benchmark bts with many tasks under the open-files limit most desktops have.

  K1  N tasks (default 1,000), each `echo ready; exec sleep 600` with a `log: ready`
      probe, started with `bts up --wait` under `ulimit -Sn 1024` (the hard limit is
      left as it is): time until every task is UP; then `status --json` and `ps` times
      (median of 5), the supervisor's RSS and its CPU over IDLE seconds, descriptors it
      holds, and the time `bts down` takes until no task process is left.

  N1  the noisy stack: 10 tasks each printing ~200 varied lines a second (a few of them
      errors) for SECONDS, `bts up` in summary mode: the share of the lines that reach
      the terminal (task lines and bts's notes), and whether every error line did.

  L1  what limits cost at idle: 20 sleeping tasks, with and without `max_memory` and
      `max_cpu` (runs with limits are sampled every second instead of every 5 s): the
      supervisor's CPU over IDLE seconds, each way.

Usage: python3 bench/scale.py [--tasks 1000] [--idle 30] [--noisy 20] [--limits]
       [--no-build]
Python 3 standard library only; Linux (/proc). Every exit path runs `bts down`.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from common import bts_path, cpu_ticks


def timed(argv, cwd):
    t = time.time()
    r = subprocess.run(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       text=True)
    if r.returncode != 0:
        sys.exit("%s failed: %s" % (" ".join(argv), r.stderr))
    return time.time() - t


def rss_mb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=1000)
    ap.add_argument("--idle", type=float, default=30)
    ap.add_argument("--noisy", type=float, default=20, help="seconds of N1 (0: skip)")
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--limits", action="store_true", help="run L1 only")
    args = ap.parse_args()
    bts = bts_path(args.no_build)
    if args.limits:
        for limited in (False, True):
            limits_idle(bts, limited, args.idle)
        return
    if args.noisy > 0:
        noisy(bts, args.noisy)
    d = tempfile.mkdtemp(prefix="bts-scale-")
    with open(os.path.join(d, "bts.yaml"), "w") as f:
        f.write("tasks:\n")
        for i in range(args.tasks):
            f.write('  t%d: {cmd: "echo ready; exec sleep 600", health: {log: ready}}\n' % i)
    try:
        up = timed(["sh", "-c", "ulimit -Sn 1024 && exec %s up --wait" % bts], d)
        with open(os.path.join(d, ".bts", "state.json")) as f:
            state = json.load(f)
        sup = state["supervisor_pid"]
        pids = [t["pid"] for t in state["tasks"].values() if t.get("pid")]
        status = statistics.median(timed([bts, "status", "--json"], d) for _ in range(5))
        ps = statistics.median(timed([bts, "ps"], d) for _ in range(5))
        time.sleep(5)
        c0, t0 = cpu_ticks(sup), time.time()
        time.sleep(args.idle)
        idle = 100 * (cpu_ticks(sup) - c0) / os.sysconf("SC_CLK_TCK") / (time.time() - t0)
        rss = rss_mb(sup)
        fds = len(os.listdir("/proc/%d/fd" % sup))
        t = time.time()
        subprocess.run([bts, "down"], cwd=d, stdout=subprocess.DEVNULL)
        while any(os.path.exists("/proc/%d" % p) for p in pids):
            time.sleep(0.01)
        down = time.time() - t
    finally:
        subprocess.run([bts, "down"], cwd=d, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    print("K1 %d tasks with log probes, soft limit 1024: up --wait %.2f s; status --json "
          "%.0f ms, ps %.0f ms (medians); supervisor RSS %.0f MB, %d descriptors, idle CPU "
          "%.2f %% of a core; down %.2f s (no task left)" % (
              args.tasks, up, status * 1000, ps * 1000, rss, fds, idle, down))


# One noisy task: 200 lines/s (20 every 100 ms) for %d seconds, the first word varying
# (so folding cannot take them all), one error in 997 lines. Python rather than a shell
# loop: the shell forks per line and cannot reach the 200 lines/s.
NOISY = (
    "python3 -u -c 'import sys,time\n"
    "end=time.time()+%d; i=0; w=\"abcdefghijklmnopqrstuvwxyz\"\n"
    "while time.time()<end:\n"
    " for _ in range(20):\n"
    "  i+=1; print(\"error: request %%d failed\" %% i if i %% 997 == 0 else "
    "\"%%s item %%d handled\" %% (w[i %% 26:i %% 26 + 3], i))\n"
    " sys.stdout.flush(); time.sleep(0.1)'"
)


def limits_idle(bts, limited, seconds):
    d = tempfile.mkdtemp(prefix="bts-limits-")
    with open(os.path.join(d, "bts.yaml"), "w") as f:
        f.write("tasks:\n")
        for i in range(20):
            extra = ", max_memory: 512MB, max_cpu: 100%" if limited else ""
            f.write('  t%d: {cmd: "exec sleep 600"%s}\n' % (i, extra))
    try:
        timed([bts, "up", "--wait"], d)
        with open(os.path.join(d, ".bts", "state.json")) as f:
            sup = json.load(f)["supervisor_pid"]
        time.sleep(3)
        c0, t0 = cpu_ticks(sup), time.time()
        time.sleep(seconds)
        idle = 100 * (cpu_ticks(sup) - c0) / os.sysconf("SC_CLK_TCK") / (time.time() - t0)
    finally:
        subprocess.run([bts, "down"], cwd=d, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    print("L1 20 idle tasks %s limits: supervisor CPU %.2f %% of a core over %.0f s" % (
        "with" if limited else "without", idle, seconds))


def noisy(bts, seconds):
    d = tempfile.mkdtemp(prefix="bts-noisy-")
    with open(os.path.join(d, "bts.yaml"), "w") as f:
        f.write("tasks:\n")
        for i in range(10):
            f.write("  n%d:\n    cmd: %s\n" % (i, json.dumps(NOISY % seconds)))
    r = subprocess.run([bts, "up", "--output", "summary", "--no-color"], cwd=d,
                       capture_output=True, text=True, timeout=seconds + 120)
    logged = errors_logged = 0
    for i in range(10):
        with open(os.path.join(d, ".bts", "logs", "n%d.log" % i)) as f:
            for line in f:
                logged += 1
                errors_logged += "error:" in line
    out = r.stdout.splitlines()
    task_lines = [l for l in out if " | " in l and not l.split(" | ")[0].endswith("bts")]
    notes = [l for l in out if "not shown" in l]
    errors_shown = sum("error:" in l for l in task_lines)
    share = 100 * (len(task_lines) + len(notes)) / max(logged, 1)
    print("N1 10 tasks x 200 lines/s x %.0f s, summary: %d lines logged, %d on the terminal "
          "(%d task lines + %d notes) = %.2f %%; errors shown %d of %d" % (
              seconds, logged, len(task_lines) + len(notes), len(task_lines), len(notes),
              share, errors_shown, errors_logged))


if __name__ == "__main__":
    main()
