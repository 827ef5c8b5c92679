"""The engine benchmark runs to its end and prints every ratio it names (not its figures: a
benchmark's numbers are read by people, never asserted)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_engine_benchmark_prints_each_ratio_beside_its_target() -> None:
    run = subprocess.run(
        [
            sys.executable,
            "bench/engine.py",
            "--seconds",
            "0.2",
            "--rounds",
            "1",
            "--only",
            "sqlite",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert run.returncode == 0, run.stderr
    for ratio in (
        "consume / raw SQL of the same work:",
        "consume, 8 threads / 1 thread:",
        "consume_many per event / consume:",
        "consume with history / without:",
        "consume with alerts+budget / without:",
    ):
        assert ratio in run.stdout, ratio
    if hasattr(os, "sched_getaffinity") and len(os.sched_getaffinity(0)) > 1:
        assert "the same, all threads on one CPU:" in run.stdout
