"""The GPU check script's dry run on the CPU, so the script stays runnable between GPU loans."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_gpu_check_dry_run_on_cpu(tmp_path):
    run = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "gpu_check.py"),
            "--device",
            "cpu",
            "--quick",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert report["environment"]["device"] == "cpu"
    assert report["tests"]["returncode"] == 0 and "passed" in report["tests"]["summary"]
    assert {row["driver"] for row in report["md"]} == {"ase", "engine", "engine x4"}
    assert all(row["ms_per_step"] > 0 for row in report["training"])
    assert (tmp_path / "gpu_check_pytest.log").exists()
