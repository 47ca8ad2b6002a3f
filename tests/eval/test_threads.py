"""The CPU thread count of the hf back-end: chosen from the machine's cores and load, settable
with `threads` / `--threads`, and what torch runs with (checked in a fresh process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from collectivesft.eval.threads import available_cpus, choose_threads, physical_cores

SRC = str(Path(__file__).resolve().parents[2] / "src")


def _usable() -> int:
    return min(available_cpus(), physical_cores() or available_cpus())


@pytest.mark.parametrize("requested, load, expected", [
    (3, 50.0, lambda cpus: 3),                       # set outright: the load is not consulted
    (None, 0.0, lambda cpus: cpus),                  # quiet machine: every usable core
    (None, 1000.0, lambda cpus: 1),                  # far more runnable processes than cores
    (None, 1.0, lambda cpus: max(1, cpus - 1)),      # one other busy process
])
def test_choice(requested, load, expected):
    assert choose_threads(requested, load) == expected(_usable())


def _run(code: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": SRC}
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.pop(name, None)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)


def test_threads_option_of_eval_cmb(tiny_model, cmb_data, tmp_path):
    """`eval cmb --threads 2` runs with 2 torch intra-op threads (inter-op 1; child processes get
    OMP/MKL_NUM_THREADS=2) and records them in generation.json; a bad value is refused."""
    code = f"""
import json, os, torch
from collectivesft.cli.main import app
try:
    app(["eval", "cmb", "--model", {str(tiny_model)!r}, "--data", {str(cmb_data)!r}, "--out", {str(tmp_path / "run")!r},
         "--method", "loglik", "--limit", "3", "--device", "cpu", "--threads", "2"])
except SystemExit as exc:
    assert not exc.code, exc.code
print(json.dumps([torch.get_num_threads(), torch.get_num_interop_threads(), os.environ["OMP_NUM_THREADS"],
                  os.environ["MKL_NUM_THREADS"]]))
"""
    done = _run(code)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [2, 1, "2", "2"]
    assert json.loads((tmp_path / "run" / "generation.json").read_text())["threads"] == 2
    refused = _run("from collectivesft.cli.main import app\napp(['eval', 'cmb', '--out', 'x', '--threads', '0'])")
    assert refused.returncode == 2 and "--threads" in refused.stderr
