"""Benchmark: sweep throughput on 1 and 2 workers (the shipped sweeps, smaller samples).

Prints one JSON line per sweep and worker count: runs, seconds, runs_per_s, and the speed-up of
2 workers over 1. With --sobol-1024 it also runs bench/sobol_1024.yaml (10,240 runs, several
minutes) and prints its wall time.
Usage: python bench/bench_sweep.py [--sobol-1024]
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

import yaml

from abm.analysis.sweep import load_sweep, run_sweep

ROOT = Path(__file__).resolve().parent.parent
SWEEPS = {"policy_levers": 32, "behaviour": 16}  # samples: about half the shipped size (pool start-up amortised)


def measure(name: str, samples: int, workers: int, folder: Path) -> dict:
    source = ROOT / "scenarios" / "sweeps" / f"{name}.yaml"
    data = yaml.safe_load(source.read_text())
    data["samples"] = samples
    sweep_file = source.with_name(f".bench-{name}.yaml")  # next to the original: base paths resolve
    sweep_file.write_text(yaml.safe_dump(data, sort_keys=False))
    try:
        out = folder / f"{name}-{workers}"
        stats = run_sweep(load_sweep(sweep_file), sweep_file, out, workers=workers)
    finally:
        sweep_file.unlink()
    return {
        "sweep": name,
        "samples": samples,
        "workers": workers,
        "runs": stats["runs"],
        "seconds": round(stats["seconds"], 2),
        "runs_per_s": round(stats["runs_per_second"], 2),
    }


def main(argv: list[str]) -> None:
    folder = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    try:
        for name, samples in SWEEPS.items():
            one = measure(name, samples, 1, folder)
            two = measure(name, samples, 2, folder)
            two["speedup_vs_1_worker"] = round(two["runs_per_s"] / one["runs_per_s"], 2)
            print(json.dumps(one), flush=True)
            print(json.dumps(two), flush=True)
        if "--sobol-1024" in argv:
            sweep_file = ROOT / "bench" / "sobol_1024.yaml"
            stats = run_sweep(load_sweep(sweep_file), sweep_file, folder / "sobol_1024", workers=2)
            print(
                json.dumps(
                    {
                        "sweep": "sobol_1024",
                        "points": stats["points"],
                        "runs": stats["runs"],
                        "workers": 2,
                        "seconds": round(stats["seconds"], 1),
                        "runs_per_s": round(stats["runs_per_second"], 2),
                    }
                )
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1:])
