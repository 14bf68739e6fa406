"""nbval runs the chapters in quick mode: every training schedule shrinks to seconds.

The kernels nbval starts inherit this process's environment. The book build
runs the chapters without it, at the full CPU (or GPU) schedule, and so does
``benchmarks/gpu_check.sh``, which sets ``FCN_LESSON_QUICK=0`` before nbval runs.
"""
import os

os.environ.setdefault("FCN_LESSON_QUICK", "1")
