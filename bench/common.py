"""What bench/ui.py and bench/scale.py share: the release build of bts, and a process's
CPU time from /proc."""

import os
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def bts_path(no_build):
    """The release `bts`, built first unless `no_build` (honours CARGO_TARGET_DIR)."""
    if not no_build:
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    return os.path.join(target, "release", "bts")


def cpu_ticks(pid):
    """utime + stime of `pid`, in clock ticks."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])
