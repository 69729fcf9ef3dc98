#!/usr/bin/env python3
"""Benchmark bts against its peers (honcho, foreman, concurrently) and raw baselines.

Scenarios (the targets are in bench/RESULTS.md):
  S1  one task printing N lines of 80 bytes: wall and CPU time until done, every line
      checked; bts in `full` and `summary` modes vs `gen | cat > file`.
  S2  20 and 100 tasks `sh -c 'echo ready; exec sleep 60'`: time until every ready
      line is shown.
  S3  graceful stop (SIGINT to the supervisor) of those 100: time until the supervisor
      has exited and no task process survives.
  S4  20 tasks with 2 s tcp health checks, idle for 15 s: supervisor CPU and RSS.
  S5  a 1 GB output flood: supervisor peak RSS.
  S6  S1 with redaction on (extra regex + masked env values, a secret every 1000 lines).

Usage: python3 bench/bench.py [--quick] [--runs N] [--only S1,S2] [--install-peers]
       [--json PATH] [--no-build]

Python 3 standard library only. Every process the bench starts runs in its own session
and carries BTS_BENCH_RUN=<token> in its environment; every exit path kills those
sessions and then any process whose environment still carries the token.
"""

import argparse
import atexit
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PEERS_DIR = os.path.join(HERE, ".peers")
TOKEN = "bench-%d-%d" % (os.getpid(), int(time.time()))
SECRET = "sk_live_0123456789abcdefghijABCD"
ENV_TOKEN = "ghs_0123456789abcdefghijklmnopqrstuvwxyzAB"

STARTED = []  # Popen objects (each a session leader)


# ---------------------------------------------------------------------------- cleanup

def procs_with_token():
    pids = []
    needle = ("BTS_BENCH_RUN=" + TOKEN).encode()
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            with open("/proc/%s/environ" % d, "rb") as f:
                if needle in f.read().split(b"\0"):
                    pids.append(int(d))
        except OSError:
            pass
    return pids


def kill_session(p, timeout):
    """SIGKILL a started process's session (its process group) and reap it."""
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except OSError:
        pass
    try:
        p.wait(timeout=timeout)
    except Exception:
        pass


def kill_everything():
    for p in STARTED:
        kill_session(p, 2)
    kill_everything_token_only()


def on_signal(sig, _frame):
    kill_everything()
    sys.exit(128 + sig)


def spawn(args, cwd, stdout=subprocess.DEVNULL, shell=False, env_extra=None):
    env = dict(os.environ)
    env["BTS_BENCH_RUN"] = TOKEN
    env["NO_COLOR"] = "1"
    env.pop("BTS_FILE", None)
    env["PYTHONUNBUFFERED"] = "1"
    if env_extra:
        env.update(env_extra)
    p = subprocess.Popen(args, cwd=cwd, stdout=stdout, stderr=subprocess.DEVNULL,
                         stdin=subprocess.DEVNULL, shell=shell, env=env,
                         start_new_session=True)
    STARTED.append(p)
    return p


def wait4(p, timeout):
    """Wait for a Popen child; returns (wall_end, rusage) or (None, None) on timeout."""
    end = time.monotonic() + timeout
    while True:
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid == p.pid:
            p.returncode = os.waitstatus_to_exitcode(status)
            return time.monotonic(), ru
        if time.monotonic() > end:
            return None, None
        time.sleep(0.002)


def stop_and_reap(p):
    """Kill a supervisor's session and reap it (used after a scenario is measured)."""
    kill_session(p, 5)
    kill_everything_token_only()


def kill_everything_token_only():
    for _ in range(40):
        pids = procs_with_token()
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.05)


# ---------------------------------------------------------------------------- proc

def proc_cpu(pid):
    """utime + stime of a live process, in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tck = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / tck


def proc_status(pid, key):
    """A kB field of /proc/pid/status (VmRSS, VmHWM) in bytes, or None."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def children_of(pid):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            if ppid == pid:
                out.append(int(d))
        except (OSError, ValueError, IndexError):
            pass
    return out


def marker_pids(marker):
    pids = []
    m = marker.encode()
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                if m in f.read():
                    with open("/proc/%s/stat" % d) as f2:
                        if f2.read().rsplit(")", 1)[1].split()[0] != "Z":
                            pids.append(int(d))
        except OSError:
            pass
    return pids


# ---------------------------------------------------------------------------- tools

class Tools:
    def __init__(self, args, work):
        self.work = work
        self.gen = os.path.join(work, "gen")
        self.bts = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")),
                                "release", "bts")
        self.peers = {}
        self.notes = {}

    def build(self, no_build):
        subprocess.run(["rustc", "-O", "-o", self.gen, os.path.join(HERE, "gen.rs")],
                       check=True, cwd=self.work)
        if not no_build:
            subprocess.run(["cargo", "build", "--release", "--quiet"], check=True, cwd=ROOT)
        if not os.path.exists(self.bts):
            sys.exit("bench: %s not found (build it, or set CARGO_TARGET_DIR)" % self.bts)

    def find_peers(self, install):
        if install:
            subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "honcho"])
            if shutil.which("apt-get") and not shutil.which("foreman"):
                subprocess.run("apt-get update -qq && apt-get install -y -qq ruby-foreman",
                               shell=True)
            if shutil.which("npm"):
                subprocess.run(["npm", "install", "--silent", "--prefix", PEERS_DIR,
                                "concurrently"])
        for name in ("honcho", "foreman", "concurrently"):
            path = shutil.which(name)
            local = os.path.join(PEERS_DIR, "node_modules", ".bin", name)
            if not path and os.path.exists(local):
                path = local
            if path:
                self.peers[name] = path
            else:
                self.notes[name] = "not installed (run with --install-peers)"

    def version(self, name):
        cmd = {"honcho": [self.peers.get("honcho"), "--version"],
               "foreman": [self.peers.get("foreman"), "version"],
               "concurrently": [self.peers.get("concurrently"), "--version"],
               "bts": [self.bts, "--version"]}[name]
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
            return (out.stdout or out.stderr).strip().splitlines()[-1]
        except Exception:
            return "?"


# ---------------------------------------------------------------------------- runners
#
# A "runner" turns a set of (name, shell command) tasks into a supervisor command line
# in a fresh directory. Returns (argv, shell?) plus, for bts, where its log goes.

def bts_manifest(tasks, output="full", extra_task="", settings_extra="", env=None):
    lines = ["tasks:"]
    for name, cmd, more in tasks:
        lines.append("  %s:" % name)
        lines.append("    cmd: %s" % json.dumps(cmd))
        for m in more:
            lines.append("    " + m)
        if extra_task:
            lines.append("    " + extra_task)
    lines.append("settings:")
    lines.append("  output: %s" % output)
    if settings_extra:
        lines.append(settings_extra)
    if env:
        lines.append("env:")
        for k, v in env.items():
            lines.append("  %s: %s" % (k, json.dumps(v)))
    return "\n".join(lines) + "\n"


def write_procfile(d, tasks):
    with open(os.path.join(d, "Procfile"), "w") as f:
        for name, cmd, _ in tasks:
            f.write("%s: %s\n" % (name, cmd))


def peer_argv(tools, peer, d, tasks):
    """argv for a peer supervisor running `tasks` in directory d."""
    if peer == "honcho":
        write_procfile(d, tasks)
        return [tools.peers["honcho"], "-f", "Procfile", "start"]
    if peer == "foreman":
        write_procfile(d, tasks)
        return [tools.peers["foreman"], "start", "-f", "Procfile", "-d", d]
    if peer == "concurrently":
        return ([tools.peers["concurrently"], "--raw=false", "-n",
                 ",".join(n for n, _, _ in tasks)] + [c for _, c, _ in tasks])
    raise ValueError(peer)


def fresh_dir(work, label):
    d = tempfile.mkdtemp(prefix=label + "-", dir=work)
    return d


# ---------------------------------------------------------------------------- checks

def expected_line(i, secret_every):
    filler = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"
    if secret_every and i % secret_every == secret_every - 1:
        s = "line %010d key=%s " % (i, SECRET)
    else:
        s = "line %010d " % i
    while len(s) < 79:
        s += filler[: min(79 - len(s), len(filler))]
    return s


def check_lines(path, n, secret_every=0, redacted=False):
    """Count lines of `path` that carry generated line i intact, in order (any prefix
    before 'line ' is allowed: timestamps, task names). Returns (intact, leaked)."""
    intact = 0
    leaked = 0
    want = 0
    pat = re.compile(rb"line (\d{10}) ")
    try:
        f = open(path, "rb")
    except OSError:
        return 0, 0
    with f:
        for raw in f:
            m = pat.search(raw)
            if not m:
                continue
            i = int(m.group(1))
            body = raw[m.start():].rstrip(b"\r\n").decode("utf-8", "replace")
            # Strip colour codes a peer may add around the text.
            body = re.sub(r"\x1b\[[0-9;]*m", "", body)
            exp = expected_line(i, secret_every)
            if SECRET in body:
                leaked += 1
            if redacted and SECRET in exp:
                exp_ok = body.startswith("line %010d key=" % i) and SECRET not in body
            else:
                exp_ok = body == exp
            if exp_ok and i == want:
                intact += 1
                want += 1
            elif exp_ok:
                want = i + 1
    return intact, leaked


# ---------------------------------------------------------------------------- S1 / S6

def run_flood(tools, label, n, mode, secret_every=0, redact=False, timeout=600):
    """One S1-style run. Returns dict(wall, cpu, intact_log, intact_out, leaked)."""
    d = fresh_dir(tools.work, label)
    out_path = os.path.join(d, "out.txt")
    gen_cmd = "%s lines %d %d" % (tools.gen, n, secret_every)
    tasks = [("flood", gen_cmd, ["log_max_kb: 2000000"])]
    log_path = None
    if mode == "cat":
        argv, shell = "%s | cat > %s" % (gen_cmd, out_path), True
    elif mode == "tee":
        # The floor for writing two copies (bts's log and terminal) with no work at all.
        argv, shell = "%s | tee %s/tee.txt > %s" % (gen_cmd, d, out_path), True
    elif mode.startswith("bts-"):
        settings = ""
        env = None
        if redact:
            settings = "  secrets: { redact: ['sk_live_[0-9a-zA-Z]{24}'] }"
            env = {"API_TOKEN": ENV_TOKEN, "DB_PASSWORD": "hunter2hunter2"}
        with open(os.path.join(d, "bts.yaml"), "w") as f:
            f.write(bts_manifest(tasks, output=mode[4:], settings_extra=settings, env=env))
        argv, shell = [tools.bts, "-f", os.path.join(d, "bts.yaml"), "up"], False
        log_path = os.path.join(d, ".bts", "logs", "flood.log")
    else:
        argv, shell = peer_argv(tools, mode, d, tasks), False
    with open(out_path if mode not in ("cat", "tee") else os.devnull, "wb") as out:
        t0 = time.monotonic()
        p = spawn(argv, d, stdout=out, shell=shell)
        t1, ru = wait4(p, timeout)
    if t1 is None:
        stop_and_reap(p)
        return {"error": "timeout after %ds" % timeout}
    kill_everything_token_only()
    res = {"wall": t1 - t0, "cpu": ru.ru_utime + ru.ru_stime, "maxrss": ru.ru_maxrss * 1024}
    res["intact_out"], leaked_out = check_lines(out_path, n, secret_every, redact)
    res["leaked"] = leaked_out
    if log_path:
        res["intact_log"], leaked_log = check_lines(log_path, n, secret_every, redact)
        res["leaked"] += leaked_log
    shutil.rmtree(d, ignore_errors=True)
    return res


# ---------------------------------------------------------------------------- S2 / S3

def sleep_tasks(count, marker):
    return [("t%03d" % i, "echo ready; exec sleep %s" % marker, []) for i in range(count)]


def run_ready_and_stop(tools, who, count, measure_stop, timeout=30):
    """S2 (and S3 when measure_stop): start `count` sleepers, time until every ready
    line is on the supervisor's stdout; then SIGINT the supervisor and time until it has
    exited and no task survives."""
    marker = "%d.%d" % (600 + count, int(time.time() * 1000) % 100000)  # unique sleep arg
    d = fresh_dir(tools.work, "ready-%s-%d" % (who, count))
    tasks = sleep_tasks(count, marker)
    if who == "shell":
        script = " ".join("sh -c 'echo %s ready; exec sleep %s' &" % (n, marker)
                          for n, _, _ in tasks) + " wait"
        argv, shell = script, True
    elif who == "bts":
        with open(os.path.join(d, "bts.yaml"), "w") as f:
            f.write(bts_manifest(tasks, output="full"))
        argv, shell = [tools.bts, "-f", os.path.join(d, "bts.yaml"), "up"], False
    else:
        argv, shell = peer_argv(tools, who, d, tasks), False
    t0 = time.monotonic()
    p = spawn(argv, d, stdout=subprocess.PIPE, shell=shell)
    seen = set()
    buf = b""
    ready_at = None
    os.set_blocking(p.stdout.fileno(), False)
    deadline = t0 + timeout
    pat = re.compile(rb"(t\d{3})\S*\s*\|?\s*ready|(t\d{3}) ready")
    while time.monotonic() < deadline:
        try:
            chunk = os.read(p.stdout.fileno(), 65536)
        except BlockingIOError:
            chunk = None
        if chunk == b"":
            break
        if chunk:
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for line in lines:
                m = pat.search(line)
                if m:
                    seen.add(m.group(1) or m.group(2))
            if len(seen) >= count:
                ready_at = time.monotonic()
                break
        else:
            time.sleep(0.001)
    res = {"ready": (ready_at - t0) if ready_at else None, "seen": len(seen)}
    if ready_at is None:
        res["error"] = "only %d/%d ready lines" % (len(seen), count)
    if measure_stop and ready_at is not None and who != "shell":
        # Wait until every sleeper really runs (exec'd), then stop gracefully.
        end = time.monotonic() + 10
        while len(marker_pids(marker)) < count and time.monotonic() < end:
            time.sleep(0.01)
        drain_pipe = p.stdout.fileno()
        t0 = time.monotonic()
        os.kill(p.pid, signal.SIGINT)
        exited = None
        gone = None
        end = t0 + 20
        while time.monotonic() < end:
            try:
                while os.read(drain_pipe, 65536):
                    pass
            except (BlockingIOError, OSError):
                pass
            if exited is None:
                pid, status, _ = os.wait4(p.pid, os.WNOHANG)
                if pid == p.pid:
                    exited = time.monotonic()
                    p.returncode = os.waitstatus_to_exitcode(status)
                    res["survivors_at_exit"] = len(marker_pids(marker))
            if exited is not None:
                if not marker_pids(marker):
                    gone = time.monotonic()
                    break
            time.sleep(0.002)
        res["stop"] = (max(exited, gone) - t0) if (exited and gone) else None
        res["supervisor_exit"] = (exited - t0) if exited else None
        if res["stop"] is None:
            res["survivors"] = len(marker_pids(marker))
    stop_and_reap(p)
    for pid in marker_pids(marker):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    shutil.rmtree(d, ignore_errors=True)
    return res


# ---------------------------------------------------------------------------- S4

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def run_idle(tools, who, count, idle):
    """S4: `count` tasks listening on loopback ports, bts probing each over tcp every
    2 s; after they are all up, measure the supervisor's CPU over `idle` seconds and its
    RSS. Peers have no health checks: they run the same tasks unprobed."""
    d = fresh_dir(tools.work, "idle-%s" % who)
    tasks = []
    for i in range(count):
        port = free_port()
        more = ["health: { tcp: %d, interval: 2s }" % port] if who == "bts" else []
        tasks.append(("t%03d" % i, "exec %s listen %d" % (tools.gen, port), more))
    if who == "bts":
        with open(os.path.join(d, "bts.yaml"), "w") as f:
            f.write(bts_manifest(tasks, output="summary"))
        argv = [tools.bts, "-f", os.path.join(d, "bts.yaml"), "up"]
    else:
        argv = peer_argv(tools, who, d, tasks)
    out_path = os.path.join(d, "out.txt")
    with open(out_path, "wb") as out:
        p = spawn(argv, d, stdout=out)
    res = {}
    try:
        end = time.monotonic() + 30
        if who == "bts":
            while time.monotonic() < end:
                with open(out_path, "rb") as f:
                    if f.read().count(b": UP") >= count:
                        break
                time.sleep(0.05)
            else:
                res["error"] = "tasks never all UP"
        else:
            while time.monotonic() < end and len(children_of(p.pid)) < count:
                time.sleep(0.05)
        time.sleep(1.0)  # let start-up work settle
        pid = p.pid
        if who == "concurrently":
            pass  # node is the session leader itself
        c0 = proc_cpu(pid)
        t0 = time.monotonic()
        time.sleep(idle)
        c1 = proc_cpu(pid)
        t1 = time.monotonic()
        res["cpu_pct"] = 100.0 * (c1 - c0) / (t1 - t0)
        res["rss"] = proc_status(pid, "VmRSS")
        res["hwm"] = proc_status(pid, "VmHWM")
        if who == "bts":
            with open(out_path, "rb") as f:
                text = f.read()
            res["probe_failures"] = text.count(b"DEGRADED") + text.count(b"DOWN")
    finally:
        stop_and_reap(p)
        shutil.rmtree(d, ignore_errors=True)
    return res


# ---------------------------------------------------------------------------- S5

def run_flood_rss(tools, who, nbytes, mode):
    """S5: one task writing `nbytes` of 80-byte lines; the supervisor's peak RSS
    (VmHWM sampled every 20 ms, and wait4's ru_maxrss, which also covers reaped
    children, so the smaller of the two is the supervisor's)."""
    n = nbytes // 80
    d = fresh_dir(tools.work, "rss-%s" % who)
    gen_cmd = "%s lines %d" % (tools.gen, n)
    if who == "cat":
        argv, shell = "%s | cat > /dev/null" % gen_cmd, True
    else:
        with open(os.path.join(d, "bts.yaml"), "w") as f:
            f.write(bts_manifest([("flood", gen_cmd, [])], output=mode))
        argv, shell = [tools.bts, "-f", os.path.join(d, "bts.yaml"), "up"], False
    res = {}
    with open(os.path.join(d, "out.txt"), "wb") as out:
        t0 = time.monotonic()
        p = spawn(argv, d, stdout=out, shell=shell)
        hwm = 0
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid == p.pid:
                p.returncode = os.waitstatus_to_exitcode(status)
                break
            if who != "cat":
                h = proc_status(p.pid, "VmHWM")
                if h:
                    hwm = max(hwm, h)
            if time.monotonic() - t0 > 900:
                res["error"] = "timeout"
                break
            time.sleep(0.02)
    res["wall"] = time.monotonic() - t0
    res["hwm"] = hwm if who != "cat" else ru.ru_maxrss * 1024
    res["maxrss_tree"] = ru.ru_maxrss * 1024 if ru else None
    stop_and_reap(p)
    shutil.rmtree(d, ignore_errors=True)
    return res


# ---------------------------------------------------------------------------- report

def med(vals):
    vals = [v for v in vals if isinstance(v, (int, float))]
    return statistics.median(vals) if vals else None


def fmt_s(v):
    return "—" if v is None else "%.3f s" % v


def fmt_mb(v):
    return "—" if v is None else "%.1f MB" % (v / 1e6)


def fmt_ratio(v, base):
    return "—" if v is None or not base else "%.2f×" % (v / base)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="short run: fewer lines and runs")
    ap.add_argument("--runs", type=int, help="repetitions per case (default 5, quick 1)")
    ap.add_argument("--only", default="S1,S2,S3,S4,S5,S6")
    ap.add_argument("--peers", default="honcho,foreman,concurrently")
    ap.add_argument("--install-peers", action="store_true")
    ap.add_argument("--no-build", action="store_true", help="use the existing release build")
    ap.add_argument("--json", default=os.path.join(HERE, "results.json"))
    args = ap.parse_args()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    atexit.register(kill_everything)

    runs = args.runs or (1 if args.quick else 5)
    lines = 200_000 if args.quick else 1_000_000
    flood_bytes = (200 if args.quick else 1000) * 1_000_000
    idle = 5 if args.quick else 15
    only = set(args.only.split(","))
    work = tempfile.mkdtemp(prefix="bts-bench-")
    atexit.register(lambda: shutil.rmtree(work, ignore_errors=True))
    tools = Tools(args, work)
    tools.build(args.no_build)
    tools.find_peers(args.install_peers)
    wanted_peers = [p for p in args.peers.split(",") if p]
    peers = [p for p in wanted_peers if p in tools.peers]
    # honcho and foreman need ~35 s / ~20 s per million lines: one run each is enough to
    # place them, and their S1 runs use the same line count as everyone else.
    slow_runs = {"honcho": 1, "foreman": 1}

    results = {"machine": machine(), "command": " ".join([sys.argv[0]] + sys.argv[1:]),
               "lines": lines, "runs": runs, "versions": {}, "scenarios": {},
               "notes": dict(tools.notes)}
    for name in ["bts"] + peers:
        results["versions"][name] = tools.version(name)
    rows = []

    def note(msg):
        print(msg, file=sys.stderr, flush=True)

    if "S1" in only or "S6" in only:
        cases = []
        if "S1" in only:
            cases += [("cat", "cat", 0, False), ("tee (two copies)", "tee", 0, False),
                      ("bts full", "bts-full", 0, False),
                      ("bts summary", "bts-summary", 0, False)]
            cases += [(p, p, 0, False) for p in peers]
        if "S6" in only:
            cases += [("bts full +redact", "bts-full", 1000, True),
                      ("bts summary +redact", "bts-summary", 1000, True)]
        s1 = {}
        for label, mode, every, redact in cases:
            n_runs = min(runs, slow_runs.get(mode, runs))
            rs = []
            for _ in range(n_runs):
                note("S1 %s …" % label)
                rs.append(run_flood(tools, "s1", lines, mode, every, redact))
            s1[label] = rs
        results["scenarios"]["S1"] = s1
        base = med([r.get("wall") for r in s1.get("cat", [])])
        base_cpu = med([r.get("cpu") for r in s1.get("cat", [])])
        rows.append("\n### S1/S6 — one task printing %s lines of 80 bytes\n" % f"{lines:,}")
        rows.append("| runner | wall (median) | × cat | CPU (whole tree) | × cat | "
                    "lines intact in log | lines on stdout | secrets leaked |")
        rows.append("|---|---|---|---|---|---|---|---|")
        for label, rs in s1.items():
            if any("error" in r for r in rs):
                rows.append("| %s | %s | | | | | | |" % (label, rs[0].get("error")))
                continue
            w = med([r["wall"] for r in rs])
            c = med([r["cpu"] for r in rs])
            log = med([r.get("intact_log") for r in rs])
            outl = med([r.get("intact_out") for r in rs])
            rows.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
                label, fmt_s(w), fmt_ratio(w, base), fmt_s(c), fmt_ratio(c, base_cpu),
                "—" if log is None else f"{int(log):,}",
                "—" if label.startswith(("cat", "tee")) else f"{int(outl):,}",
                max(r.get("leaked", 0) for r in rs) if "redact" in label else "—"))

    if "S2" in only or "S3" in only:
        s2 = {}
        rows.append("\n### S2/S3 — N tasks `sh -c 'echo ready; exec sleep 60'`\n")
        rows.append("| runner | N | all ready lines shown | graceful stop (exit + no survivor) "
                    "| survivors when supervisor exited |")
        rows.append("|---|---|---|---|---|")
        for count in (20, 100):
            for who in ["shell", "bts"] + peers:
                rs = []
                for _ in range(runs if who in ("shell", "bts") else min(runs, 3)):
                    note("S2/S3 %s %d …" % (who, count))
                    rs.append(run_ready_and_stop(tools, who, count,
                                                 measure_stop="S3" in only and count == 100))
                s2["%s/%d" % (who, count)] = rs
                err = next((r["error"] for r in rs if "error" in r), None)
                stop = med([r.get("stop") for r in rs]) if count == 100 else None
                surv = max((r.get("survivors_at_exit", 0) for r in rs), default=0)
                left = max((r.get("survivors", 0) for r in rs), default=0)
                stop_txt = "—"
                if count == 100 and who != "shell" and "S3" in only:
                    stop_txt = fmt_s(stop) if stop is not None else \
                        "never (%d survivors after 20 s)" % left
                rows.append("| %s | %d | %s | %s | %s |" % (
                    "bare shell loop" if who == "shell" else who, count,
                    fmt_s(med([r.get("ready") for r in rs])) + (" (%s)" % err if err else ""),
                    stop_txt,
                    surv if count == 100 and who != "shell" and "S3" in only else "—"))
        results["scenarios"]["S2_S3"] = s2

    if "S4" in only:
        s4 = {}
        rows.append("\n### S4 — 20 idle tasks, %d s (bts: tcp health check every 2 s; "
                    "peers: no health checks)\n" % idle)
        rows.append("| runner | supervisor CPU (% of a core) | RSS | peak RSS | probe failures |")
        rows.append("|---|---|---|---|---|")
        for who in ["bts"] + peers:
            note("S4 %s …" % who)
            r = run_idle(tools, who, 20, idle)
            s4[who] = r
            rows.append("| %s | %s | %s | %s | %s |" % (
                who, "—" if r.get("cpu_pct") is None else "%.2f %%" % r["cpu_pct"],
                fmt_mb(r.get("rss")), fmt_mb(r.get("hwm")),
                r.get("probe_failures", "—") if "error" not in r else r["error"]))
        results["scenarios"]["S4"] = s4

    if "S5" in only:
        s5 = {}
        rows.append("\n### S5 — one task writing %d MB of output\n" % (flood_bytes // 1_000_000))
        rows.append("| runner | supervisor peak RSS (VmHWM) | wall |")
        rows.append("|---|---|---|")
        for who, mode in (("cat", None), ("bts", "summary"), ("bts", "full")):
            label = who if mode is None else "%s %s" % (who, mode)
            note("S5 %s …" % label)
            r = run_flood_rss(tools, who, flood_bytes, mode)
            s5[label] = r
            rows.append("| %s | %s | %s |" % (label, fmt_mb(r.get("hwm")), fmt_s(r.get("wall"))))
        results["scenarios"]["S5"] = s5

    skipped = ["%s: %s" % kv for kv in tools.notes.items() if kv[0] in wanted_peers]
    header = ["## Results", "",
              "Machine: %s" % results["machine"],
              "Command: `%s`" % results["command"],
              "Versions: %s" % ", ".join("%s %s" % kv for kv in results["versions"].items()),
              "Medians of %d run(s) per case (honcho/foreman: 1 run for S1, ≤ 3 for S2/S3)."
              % runs]
    if skipped:
        header.append("Skipped: " + "; ".join(skipped))
    table = "\n".join(header + rows) + "\n"
    print(table)
    with open(args.json, "w") as f:
        json.dump(results, f, indent=1, default=str)
    print("JSON written to %s" % args.json, file=sys.stderr)
    kill_everything()
    left = procs_with_token()
    if left:
        print("bench: WARNING: processes left: %s" % left, file=sys.stderr)


def machine():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = proc_meminfo()
    return "%s, %d cores (%s), %s RAM, Linux %s, %s" % (
        platform.node() or "?", os.cpu_count(), cpu, mem, platform.release(),
        time.strftime("%Y-%m-%d"))


def proc_meminfo():
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
        return "%.0f GB" % (kb / 1e6)
    except OSError:
        return "?"


if __name__ == "__main__":
    main()
