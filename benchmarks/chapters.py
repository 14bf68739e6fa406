"""Time each chapter the way the book build runs it, and compare with the budget of 4 minutes a chapter.

    python benchmarks/chapters.py [book/06_fcn32s.ipynb ...] [--quick] [--record]

Executes the notebooks (all of book/ by default) top to bottom in fresh kernels, in order, with the
schedule the device picks (the CPU schedule here, the GPU one on CUDA; quick mode with --quick),
without writing them back, and prints one table. Chapters that train find the models earlier
chapters cached, as in the build; delete data/checkpoints-cpu first to time a first build.

--record times what a student's first run in class costs: every chapter, in order, from an empty
cache (scenes and models made anew in a temporary folder), and writes the seconds for this device
into fcn_lesson/chapter_times.json, which the page for instructors reads (commit that file).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import torch
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from fcn_lesson import notebooks

BUDGET_S = 240
ROOT = Path(__file__).resolve().parent.parent


def machine() -> tuple[str, str]:
    """(the key of this device in chapter_times.json, a description of the machine)."""
    if torch.cuda.is_available():
        return "cuda", f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}"
    return "cpu", f"{os.cpu_count()} CPU cores ({platform.machine()}), no GPU, torch {torch.__version__}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebook under book/")
    parser.add_argument("--quick", action="store_true", help="FCN_LESSON_QUICK=1, as the tests run them")
    parser.add_argument("--record", action="store_true",
                        help="every chapter from an empty cache; write fcn_lesson/chapter_times.json")
    args = parser.parse_args()
    if args.record and (args.quick or args.notebooks):
        parser.error("--record times every chapter at the full schedule: leave out --quick and the notebooks")
    if args.quick:
        os.environ["FCN_LESSON_QUICK"] = "1"
    cache = tempfile.TemporaryDirectory(prefix="fcn_lesson_chapters_") if args.record else None
    if cache:
        os.environ["FCN_LESSON_DATA"] = cache.name  # the kernels inherit it: a first run's cache
    paths = args.notebooks or sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb"))
    print("| notebook | seconds | within budget | ran |\n| --- | --- | --- | --- |")
    seconds, failed = {}, []
    for path in paths:
        notebook = nbformat.read(path, as_version=4)
        began = time.perf_counter()
        try:
            NotebookClient(notebook, timeout=1200, kernel_name="python3",
                           resources={"metadata": {"path": str(path.parent)}}).execute()
        except CellExecutionError as err:
            failed.append(path.stem)
            print(f"{path.name} failed:\n{str(err)[-2000:]}", file=sys.stderr)
        seconds[path.stem] = round(time.perf_counter() - began, 1)
        within = "yes" if seconds[path.stem] <= BUDGET_S else "NO"
        print(f"| {path.name} | {seconds[path.stem]:.0f} | {within} | {'NO' if path.stem in failed else 'yes'} |",
              flush=True)
    total = sum(seconds.values())
    print(f"| all | {total:.0f} | {'yes' if total <= 20 * 60 else 'NO'} (book: 20 min) | |")
    if failed:
        raise SystemExit(f"error: {', '.join(failed)} failed; nothing was recorded")
    if args.record:
        key, description = machine()
        record = notebooks.chapter_times()
        record[key] = {"machine": description, "date": datetime.date.today().isoformat(),
                       "from": "an empty cache, every chapter in order", "seconds": seconds}
        notebooks.CHAPTER_TIMES.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
        print(f"recorded in {notebooks.CHAPTER_TIMES}")


if __name__ == "__main__":
    main()
