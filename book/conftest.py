"""nbval runs the chapters in quick mode: every training schedule shrinks to seconds.

The kernels nbval starts inherit this process's environment. The book build
runs the chapters without it, at the full CPU (or GPU) schedule.
"""
import os

os.environ["FCN_LESSON_QUICK"] = "1"
