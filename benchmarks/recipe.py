"""Run the book's CPU recipe end to end and print one table of what it reaches.

    python benchmarks/recipe.py [--recipe cpu|gpu|quick] [--out DIR] [--staged-only]

Trains the recipe's ablation plan (the classifier, FCN-32s -> 16s -> 8s staged, and every
row of chapter 7's controlled experiment), or only the staged path with --staged-only,
then scores each model on the val split, and times FCN-8s
inference on a 500 x 500 image for the mini and the VGG16 layout. Checkpoints
go to --out (default: a fresh temporary folder), so timings are of training,
not of loading, unless --out points at earlier results.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from fcn_lesson import data, recipe as recipes
from fcn_lesson.models import FCN8s
from fcn_lesson.train import evaluate, pick_device

THIN = ("ring", "bar", "cross")


def row(name: str, result, val_set, device) -> str:
    scores = evaluate(result.model, val_set, num_classes=len(data.CLASSES), device=device)
    thin = [scores["class_iu"][data.CLASSES.index(c)] for c in THIN]
    seen = sum(h["images_per_s"] * h["seconds"] for h in result.history)
    return (f"| {name} | {result.seconds:.0f} | {seen / result.seconds:.0f} | {scores['pixel_accuracy']:.3f} | "
            f"{scores['mean_iu']:.3f} | {scores['fw_iu']:.3f} | {sum(thin) / len(thin):.3f} |")


def inference_seconds(model, device, repeats: int = 3) -> float:
    model.eval().to(device)
    x = torch.randn(1, 3, 500, 500, device=device)
    with torch.no_grad():
        model(x)
        if device.type == "cuda":
            torch.cuda.synchronize()
        began = time.perf_counter()
        for _ in range(repeats):
            model(x)
        if device.type == "cuda":
            torch.cuda.synchronize()
    return (time.perf_counter() - began) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", choices=sorted(recipes.RECIPES), default=None)
    parser.add_argument("--out", type=Path, default=None, help="checkpoint folder (default: a new temporary one)")
    parser.add_argument("--root", type=Path, default=None, help="dataset root (default: the book's)")
    parser.add_argument("--device", default=None)
    parser.add_argument("--staged-only", action="store_true", help="only the staged path, not the ablation")
    args = parser.parse_args()
    device = pick_device(args.device)
    recipe = recipes.RECIPES[args.recipe] if args.recipe else recipes.default_recipe(device)
    out = args.out or Path(tempfile.mkdtemp(prefix="fcn_recipe_"))
    print(f"recipe {recipe.name} on {device} with {torch.get_num_threads()} threads; checkpoints in {out}")

    plan = "staged" if args.staged_only else "ablation"
    results = recipes.train(recipe, plan, out=out, root=args.root, device=device, progress=False)
    _, val_set = recipes.scene_datasets(recipe, args.root)

    classifier = results["classifier"]
    staged_seconds = sum(results[name].seconds for name in ("classifier", "fcn32s", "fcn16s", "fcn8s"))
    print(f"\npre-training: {classifier.seconds:.0f} s, val accuracy {classifier.history[-1]['val_accuracy']:.3f}")
    print(f"staged total (pre-training + 32s + 16s + 8s, training time): {staged_seconds:.0f} s\n")
    print(f"| model | train s | images/s | pixel acc. | mean IU | f.w. IU | mean IU {'/'.join(THIN)} |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for stage, result in results.items():
        if not stage.startswith("classifier"):
            print(row(stage, result, val_set, device))

    print("\n| FCN-8s inference, one 500 x 500 image | seconds |")
    print("| --- | --- |")
    for backbone in ("mini", "vgg16"):
        print(f"| {backbone} | {inference_seconds(FCN8s(21, backbone=backbone), device):.3f} |")


if __name__ == "__main__":
    main()
