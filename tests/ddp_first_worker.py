"""Run by test_distributed.py under torchrun: every rank makes the same scenes in a new folder,
rank 0 first (train.main_process_first). Each rank records when it entered and left the block."""
import json
import sys
import time
from pathlib import Path

import torch.distributed as dist

from fcn_lesson import data, train

root, out = Path(sys.argv[1]), Path(sys.argv[2])
with train.main_process_first("cpu"):
    entered = time.monotonic()
    data.make_dataset(root, train=6, val=2, size=64, seed=3)
    time.sleep(0.5)  # ample time for another rank to enter too, were it let in
    left = time.monotonic()
(out / f"rank{dist.get_rank()}.json").write_text(json.dumps({"entered": entered, "left": left}))
dist.destroy_process_group()
