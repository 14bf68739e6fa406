#!/usr/bin/env bash
# The GPU check, for a machine with an NVIDIA GPU: every chapter executed under nbval with the GPU recipe
# (FCN_LESSON_QUICK=0: the full schedule a Colab user runs), then the throughput benchmark on CUDA, then
# the full-scale recipes' seconds per iteration, written to fcn_lesson/gpu_timings.json (chapter 8 reads
# them; commit that file). Prints the tables; the logs stay in the folder it names.
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
echo "| chapter | seconds | pass |"
echo "| --- | --- | --- |"
failed=0
for notebook in book/*.ipynb; do
    name=$(basename "$notebook" .ipynb)
    began=$SECONDS
    if FCN_LESSON_QUICK=0 python -m pytest -q -p no:cacheprovider "$notebook" > "$logs/$name.log" 2>&1; then
        verdict=yes
    else
        verdict=NO
        failed=1
    fi
    echo "| $name | $((SECONDS - began)) | $verdict |"
done
echo
python benchmarks/throughput.py --device cuda 2>&1 | tee "$logs/throughput.log"
echo
python benchmarks/gpu_timings.py 2>&1 | tee "$logs/gpu_timings.log"
exit $failed
