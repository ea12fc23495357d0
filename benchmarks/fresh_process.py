"""One command in a fresh process, with its own wall time, CPU time and peak RSS (ru_maxrss).

Why a launcher: Linux gives a child the peak RSS of the process it was forked from (subprocess
forks, or vforks, the benchmark, and exec records the old memory's high-water mark), so a child of a
benchmark that has imported torch reports at least the benchmark's own size. The command is
therefore started by a small launcher (a plain Python with nothing imported), which waits for it
with `os.wait4` and reports that process's rusage alone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence

_LAUNCHER = r"""
import json, os, subprocess, sys, time
start = time.perf_counter()
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
err = proc.stderr.read()
_, status, usage = os.wait4(proc.pid, 0)
print(json.dumps({
    "exit": os.waitstatus_to_exitcode(status),
    "wall_s": round(time.perf_counter() - start, 2),
    "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
    "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
    "stderr": err.decode(errors="replace").strip()[-400:],
}))
"""


def run_measured(cmd: Sequence[str], env: Mapping[str, str] | None = None) -> dict:
    """Run `cmd` through the launcher; its exit status, wall and CPU seconds, peak RSS (MiB),
    the tail of its stderr, and the load average before and after."""
    before = list(os.getloadavg())
    out = subprocess.run(
        [sys.executable, "-S", "-c", _LAUNCHER, *cmd],
        env=dict(os.environ if env is None else env),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    result.update(load_before=before, load_after=list(os.getloadavg()))
    return result
