"""How much ``import genloose`` costs, and whether the command line answers without the scientific stack.

Each case runs in a fresh interpreter ``--repeat`` times (default 7); the table gives the median wall time, the
cumulative import time that ``python -X importtime`` reports for the top-level module(s) of the statement, and
the peak resident memory of the child process. Ratios are measured in the same run:

* ``import genloose`` against ``import torch``;
* ``genloose.evaluate`` resolved (what an evaluation loop pays) against ``import torch``: the target is at most
  torch's import plus 0.5 s;
* ``genloose --version`` and ``genloose --help`` (target under 1 s, without importing torch).

Run::

    python benchmarks/import_time.py
    python benchmarks/import_time.py --repeat 15
"""

from __future__ import annotations

import argparse
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time

CASES = {
    "import torch": "import torch",
    "import genloose": "import genloose",
    "genloose.evaluate, class_radius resolved": "import genloose; genloose.evaluate; genloose.class_radius",
    "genloose.testing resolved": "import genloose; genloose.testing.halfspace",
}
_PEAK = "import resource, sys; sys.stderr.write('PEAK_KB %d\\n' % resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"


def _python_case(statement: str) -> tuple[float, float, float, bool]:
    """(wall seconds, importtime seconds, peak MiB, torch imported) of one fresh interpreter."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"{statement}; {_PEAK}"],
        capture_output=True,
        text=True,
        check=True,
    )
    wall = time.perf_counter() - start
    total = 0
    torch_seen = False
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \| ( *)(\S+)$", line)
        if not match:
            continue
        if not match.group(2):
            total += int(match.group(1))  # top-level imports only: their cumulative times add up
        torch_seen |= match.group(3) == "torch"
    peak = int(re.search(r"PEAK_KB (\d+)", done.stderr).group(1)) / 1024
    return wall, total / 1e6, peak, torch_seen


def _command_case(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(args, capture_output=True, check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    print(f"python {platform.python_version()} on {platform.machine()}, {args.repeat} runs each (median)\n")
    print(f"{'case':44s} {'wall s':>8s} {'importtime s':>13s} {'peak MiB':>9s} {'torch?':>7s}")
    walls = {}
    for name, statement in CASES.items():
        runs = [_python_case(statement) for _ in range(args.repeat)]
        wall = statistics.median(r[0] for r in runs)
        walls[name] = wall
        imported = statistics.median(r[1] for r in runs)
        peak = statistics.median(r[2] for r in runs)
        print(f"{name:44s} {wall:8.3f} {imported:13.3f} {peak:9.0f} {'yes' if runs[0][3] else 'no':>7s}")
    cli = shutil.which("genloose")
    for flag in ("--version", "--help"):
        if cli is None:
            print(f"genloose {flag}: the genloose command is not on PATH (pip install -e . first)")
            continue
        wall = statistics.median(_command_case([cli, flag]) for _ in range(args.repeat))
        walls[f"genloose {flag}"] = wall
        print(f"{'genloose ' + flag + ' (whole command)':44s} {wall:8.3f}")
    torch_wall = walls["import torch"]
    print()
    print(f"import genloose / import torch:                     {walls['import genloose'] / torch_wall:.3f}")
    extra = walls["genloose.evaluate, class_radius resolved"] - torch_wall
    print(f"evaluate + class_radius resolved - import torch:    {extra:+.3f} s (target <= +0.5 s)")


if __name__ == "__main__":
    main()
