#!/usr/bin/env bash
# The GPU check, for a machine with an NVIDIA GPU: every chapter executed in order from an empty cache
# with the GPU recipe (the full schedule a Colab user runs), its seconds written to
# fcn_lesson/chapter_times.json (the page for instructors reads them); then the throughput benchmark on
# CUDA; then the full-scale recipes' seconds per iteration, written to fcn_lesson/gpu_timings.json
# (chapter 8 reads them). Commit both files. Prints the tables; the logs stay in the folder it names.
#
#     bash benchmarks/gpu_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
if ! python -c "import torch, sys; sys.exit(not torch.cuda.is_available())"; then
    echo "error: no CUDA GPU here; run this on a machine with an NVIDIA GPU" >&2
    exit 2
fi
logs=$(mktemp -d -t fcn_gpu_check_XXXX)
python -c "import torch; p = torch.cuda.get_device_properties(0); print(f'{p.name}, {p.total_memory / 2**30:.0f} GiB, torch {torch.__version__}')"
echo "logs: $logs"
echo
failed=0
FCN_LESSON_QUICK=0 python benchmarks/chapters.py --record 2> "$logs/chapters.log" || failed=1
echo
python benchmarks/throughput.py --device cuda 2>&1 | tee "$logs/throughput.log"
echo
python benchmarks/gpu_timings.py 2>&1 | tee "$logs/gpu_timings.log"
exit $failed
