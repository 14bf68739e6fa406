"""Measure one training iteration of each full-scale recipe on a GPU and write what chapter 8 reads.

    python benchmarks/gpu_timings.py            # on a machine with an NVIDIA GPU

VGG16 FCN-8s, 21 classes, as `fullscale.PAPER` (one 500 x 375 image, summed loss, SGD, float32) and
`fullscale.MODERN` (a batch of 320 x 320 patches, mean loss, Adam, mixed precision) take one step.
The median of the timed iterations after warm-up goes into `fcn_lesson/gpu_timings.json`, which
`fullscale.training_hours` then reports as measured instead of its FLOP estimate. Prints one table.
"""
from __future__ import annotations

import datetime
import json
import statistics
import time

import torch
import torch.nn.functional as F

from fcn_lesson import fullscale
from fcn_lesson.models import FCN8s
from fcn_lesson.train import mixed_precision


def seconds_per_iteration(recipe: fullscale.VOCRecipe, device: torch.device, repeats: int = 10) -> float:
    config = recipe.fcn32s
    height, width = (recipe.patch_size,) * 2 if recipe.patch_size else (375, 500)
    model = FCN8s(21, backbone="vgg16").to(device).train()
    optimizer = (torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum)
                 if config.optimizer == "sgd" else torch.optim.Adam(model.parameters(), lr=config.lr))
    autocast = mixed_precision(device, config.precision)
    images = torch.randn(config.batch_size, 3, height, width, device=device)
    labels = torch.randint(0, 21, (config.batch_size, height, width), device=device)
    times = []
    for index in range(repeats + 3):  # three to warm up: memory, cuDNN's choice of kernels
        torch.cuda.synchronize()
        began = time.perf_counter()
        with torch.autocast(device.type, dtype=autocast, enabled=autocast is not None):
            logits = model(images)
        loss = F.cross_entropy(logits.float(), labels, reduction=config.loss)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        torch.cuda.synchronize()
        if index >= 3:
            times.append(time.perf_counter() - began)
    return statistics.median(times)


def main() -> None:
    if not torch.cuda.is_available():
        raise SystemExit("error: no CUDA GPU here; run this on a machine with an NVIDIA GPU")
    device = torch.device("cuda")
    torch.backends.cudnn.benchmark = True
    measured = {recipe.name: seconds_per_iteration(recipe, device) for recipe in (fullscale.PAPER, fullscale.MODERN)}
    record = {"device": torch.cuda.get_device_name(device), "torch": torch.__version__,
              "date": datetime.date.today().isoformat(), "seconds_per_iteration": measured}
    fullscale.GPU_TIMINGS.write_text(json.dumps(record, indent=1) + "\n")
    print("| recipe | s / iteration | hours, three stages |\n| --- | --- | --- |")
    for recipe in (fullscale.PAPER, fullscale.MODERN):
        hours, _ = fullscale.training_hours(recipe)
        print(f"| {recipe.name} | {measured[recipe.name]:.3f} | {hours:.1f} |")
    print(f"written to {fullscale.GPU_TIMINGS} ({record['device']})")


if __name__ == "__main__":
    main()
