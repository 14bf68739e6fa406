"""Time each chapter the way the book build runs it, and compare with the budget of 4 minutes a chapter.

    python benchmarks/chapters.py [book/06_fcn32s.ipynb ...] [--quick]

Executes the notebooks (all of book/ by default) top to bottom in fresh kernels, in order, with the
full CPU schedule (or quick mode with --quick), without writing them back, and prints one table.
Chapters that train find the models earlier chapters cached, as in the build; delete
data/checkpoints-cpu first to time a first build.
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

BUDGET_S = 240
ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebook under book/")
    parser.add_argument("--quick", action="store_true", help="FCN_LESSON_QUICK=1, as the tests run them")
    args = parser.parse_args()
    if args.quick:
        os.environ["FCN_LESSON_QUICK"] = "1"
    paths = args.notebooks or sorted((ROOT / "book").glob("*.ipynb"))
    print("| notebook | seconds | within budget |\n| --- | --- | --- |")
    total = 0.0
    for path in paths:
        notebook = nbformat.read(path, as_version=4)
        began = time.perf_counter()
        NotebookClient(notebook, timeout=1200, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
        seconds = time.perf_counter() - began
        total += seconds
        print(f"| {path.name} | {seconds:.0f} | {'yes' if seconds <= BUDGET_S else 'NO'} |", flush=True)
    print(f"| all | {total:.0f} | {'yes' if total <= 20 * 60 else 'NO'} (book: 20 min) |")


if __name__ == "__main__":
    main()
