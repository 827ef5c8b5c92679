"""How fast the command line starts: ``meterstack --help`` and ``meterstack plans list``.

Each command runs as a user runs it (a new process, the installed ``meterstack`` script) several
times; the medians are printed beside the median of a bare ``python -c pass`` measured in the
same run, since the machine's load moves every figure. Targets: ``--help`` at most 0.3 s and
``plans list`` at most 0.8 s (medians); the commands import the engine, the database and the web
service only when they need them.

    python bench/cli.py [--runs 11]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

METERSTACK = str(Path(sys.executable).with_name("meterstack"))

COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "meterstack --help": [METERSTACK, "--help"],
    "meterstack plans list": [METERSTACK, "plans", "list"],
}
TARGETS = {"meterstack --help": 0.3, "meterstack plans list": 0.8}


def seconds(command: list[str]) -> float:
    """Wall time of one run, from starting the process to its exit."""
    began = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11)
    args = parser.parse_args()
    # Interleaved rounds, so that a burst of load on the machine touches every command alike.
    samples: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(args.runs):
        for name, command in COMMANDS.items():
            samples[name].append(seconds(command))
    bare = statistics.median(samples["python -c pass"])
    print(f"CLI start-up, median of {args.runs} runs each")
    for name, times in samples.items():
        median = statistics.median(times)
        line = f"  {name:<24} {median:6.3f} s   {median / bare:5.1f}x python -c pass"
        if name in TARGETS:
            verdict = "ok" if median <= TARGETS[name] else "over"
            line += f"   (target <= {TARGETS[name]} s: {verdict})"
        print(line)


if __name__ == "__main__":
    main()
