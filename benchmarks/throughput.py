"""Training and inference throughput of FCN-8s: the loop people copy against the book's engine.

    python benchmarks/throughput.py [--quick] [--device cpu|cuda] [--networks mini,vgg16]

Three training loops, on whatever device it finds (or --device):

(a) reference: written from wkentaro/pytorch-fcn's trainer: one image per step, float32, SGD with
    momentum 0.99, the loss summed over the pixels, NCHW, images decoded as they are read;
(b0) the book's engine, plain: ``fit`` with float32 and the images decoded as they are read: the
    engine as it was before it was made fast;
(b) the book's engine at its best on this device: mixed precision where the device computes it
    natively, the scenes decoded once and kept in memory, channels-last and cuDNN autotuning on a GPU.

on (i) the mini FCN-8s at the book's scene size (128 px, padding 65), batch 8 for the engine, and
(ii) VGG16 FCN-8s on 320 x 320 patches (training, batch 4 for the engine) and 500 x 500 images
(inference: the size of the paper's Table 1, ~175 ms per image on a K40c). Training speed is the
median of several timed epochs after a warm-up one; inference the median of timed single images.
Prints one table with the ratios to (a).
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, Subset, TensorDataset

from fcn_lesson import data
from fcn_lesson.models import FCN8s
from fcn_lesson.train import TrainConfig, fit, mixed_precision, pick_device


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def reference_loop(model, dataset: Dataset, device: torch.device, windows: int, window: int) -> float:
    """Images/s of pytorch-fcn's loop: batch 1, float32, SGD momentum 0.99, summed loss."""
    model.to(device).train()
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1e-10, momentum=0.99,
                                weight_decay=5e-4)
    loader = iter(DataLoader(dataset, batch_size=1, shuffle=True))
    rates = []
    for index in range(windows + 1):  # the first window warms up
        _sync(device)
        began = time.perf_counter()
        for _ in range(window):
            image, target = next(loader)
            image, target = image.to(device), target.to(device)
            loss = F.cross_entropy(model(image), target, ignore_index=data.IGNORE_INDEX, reduction="sum")
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        _sync(device)
        if index:
            rates.append(window / (time.perf_counter() - began))
    return statistics.median(rates)


def engine(model, dataset: Dataset, device: torch.device, batch: int, epochs: int, precision: str) -> float:
    """Images/s of ``fit``: the median over its epochs after the first."""
    config = TrainConfig(epochs=epochs + 1, batch_size=batch, precision=precision)
    history = fit(model, dataset, config, device=device, progress=False).history
    return statistics.median(record["images_per_s"] for record in history[1:])


def inference_ms(model, size: int, device: torch.device, precision: str, repeats: int) -> float:
    """Milliseconds for one image of ``size`` x ``size``, median of ``repeats`` after a warm-up."""
    model.to(device).eval()
    dtype = mixed_precision(device, precision)
    image = torch.randn(1, 3, size, size, device=device)
    times = []
    with torch.inference_mode(), torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
        for index in range(repeats + 1):
            _sync(device)
            began = time.perf_counter()
            model(image)
            _sync(device)
            if index:
                times.append(1000 * (time.perf_counter() - began))
    return statistics.median(times)


def networks(quick: bool, scenes: Path):
    """(name, train/inference sizes, model factory, datasets (as read, kept decoded), engine batch)."""
    count = 16 if quick else 96
    as_read = Subset(data.voc_dataset(scenes, "train"), range(count))
    decoded = Subset(data.voc_dataset(scenes, "train", keep_decoded=True), range(count))
    yield "mini FCN-8s", (128, 128), lambda: FCN8s(len(data.CLASSES), backbone="mini"), (as_read, decoded), 8
    side, count = (64, 4) if quick else (320, 8)
    torch.manual_seed(0)
    patches = TensorDataset(torch.randn(count, 3, side, side), torch.randint(0, 21, (count, side, side)))
    yield "VGG16 FCN-8s", (side, 96 if quick else 500), lambda: FCN8s(21, backbone="vgg16"), (patches, patches), 4


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: tiny sizes, one window each")
    parser.add_argument("--device", default=None, help="cpu, cuda ... (default: cuda if available)")
    parser.add_argument("--networks", default="mini,vgg16", help="which of mini, vgg16 to measure")
    args = parser.parse_args()
    device = pick_device(args.device)
    best = mixed_precision(device, "auto")
    print(f"device {device}, {torch.get_num_threads()} threads, torch {torch.__version__}; "
          f"mixed precision here: {best or 'none (float32)'}\n")
    scenes = data.make_dataset(Path(tempfile.mkdtemp(prefix="fcn_throughput_")) / "scenes",
                               train=16 if args.quick else 96, val=1, size=128)
    wanted = args.networks.split(",")
    print("| network | loop | train images/s | x (a) | inference ms/image | x (a) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, (train_side, infer_side), make, (as_read, decoded), batch in networks(args.quick, scenes):
        if name.split()[0].lower() not in wanted:
            continue
        epochs, windows = (1, 1) if args.quick else (3, 3)
        window = max(1, len(as_read) // 4) if args.quick else max(2, len(as_read) // 12)
        repeats = 1 if args.quick else 5
        torch.manual_seed(0)
        rows = [("(a) reference", reference_loop(make(), as_read, device, windows, window),
                 inference_ms(make(), infer_side, device, "float32", repeats)),
                ("(b0) engine, plain", engine(make(), as_read, device, batch, epochs, "float32"),
                 inference_ms(make(), infer_side, device, "float32", repeats)),
                ("(b) engine, best", engine(make(), decoded, device, batch, epochs, "auto"),
                 inference_ms(make(), infer_side, device, "auto", repeats))]
        base_train, base_infer = rows[0][1], rows[0][2]
        for loop, images_per_s, ms in rows:
            print(f"| {name} ({train_side} px train, {infer_side} px inference) | {loop} | {images_per_s:.1f} "
                  f"| {images_per_s / base_train:.2f} | {ms:.1f} | {base_infer / ms:.2f} |", flush=True)


if __name__ == "__main__":
    main()
