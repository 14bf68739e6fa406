"""Run by test_distributed.py under torchrun: a few steps of DDP training on the embedded data.

Each rank writes its final weights to OUT/rank<N>.pt; fit() itself writes OUT/fcn32s.pt on rank 0.
"""
import sys
from pathlib import Path

import torch
import torch.distributed as dist

from fcn_lesson import data, models, train
from fcn_lesson.train import TrainConfig

root, out = Path(sys.argv[1]), Path(sys.argv[2])
torch.manual_seed(0)  # every rank starts from the same weights, as DDP requires
model = models.FCN32s(len(data.CLASSES), backbone="mini")
dataset = data.voc_dataset(root, "train")
train.fit(model, dataset, TrainConfig(epochs=2, batch_size=2), device="cpu", checkpoint=out / "fcn32s.pt",
          progress=False)
torch.save(model.state_dict(), out / f"rank{dist.get_rank()}.pt")
dist.destroy_process_group()
