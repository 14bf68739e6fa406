"""The benchmarks run: a smoke run of the throughput table (timings are never asserted)."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent


def test_the_quick_throughput_benchmark_prints_its_table():
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "throughput.py"), "--quick", "--networks", "mini",
                             "--device", "cpu"], capture_output=True, text=True, timeout=600,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [line for line in result.stdout.splitlines() if line.startswith("| mini FCN-8s")]
    assert [re.search(r"\| \((a|b0|b)\) ", row).group(1) for row in rows] == ["a", "b0", "b"]
    assert rows[0].split("|")[4].strip() == "1.00"  # the reference is its own unit


def test_the_gpu_timings_need_a_gpu_and_say_so():
    if torch.cuda.is_available():
        pytest.skip("a GPU is here: benchmarks/gpu_check.sh measures it")
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_timings.py")], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == ["error: no CUDA GPU here; run this on a machine with an NVIDIA GPU"]
