"""nbval runs the chapters in quick mode: every training schedule shrinks to seconds.

The kernels nbval starts inherit this process's environment. The book build
runs the chapters without it, at the full CPU (or GPU) schedule, and so does
``benchmarks/gpu_check.sh``, which sets ``FCN_LESSON_QUICK=0`` before nbval runs.
Under pytest-xdist each kernel computes on one thread: two kernels with two
threads each on two cores run several times slower than with one.
"""
import os

os.environ.setdefault("FCN_LESSON_QUICK", "1")
if "PYTEST_XDIST_WORKER" in os.environ:  # two test processes share two cores: one thread per kernel
    os.environ.setdefault("OMP_NUM_THREADS", "1")
