"""Command line: ``python -m fcn_lesson {make-data,train,evaluate,predict} --help``."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from . import data, recipe as recipes
from .models import FCN8s, FCN16s, FCN32s
from .train import evaluate, load_checkpoint, pick_device

MODELS = {"fcn32s": FCN32s, "fcn16s": FCN16s, "fcn8s": FCN8s}


def _make_data(args) -> None:
    root = data.make_dataset(args.root, train=args.train, val=args.val, size=args.size, seed=args.seed)
    print(f"wrote {args.train} train and {args.val} val scenes in VOC layout under {root}")


def _train(args) -> None:
    recipe = recipes.default_recipe(args.device)
    if args.scale:
        recipe = recipes.RECIPES[args.scale]
    print(f"recipe '{recipe.name}' on {pick_device(args.device)}; checkpoints in {args.out}")
    results = recipes.train_staged(recipe, args.out, root=args.root, device=args.device)
    for stage, result in results.items():
        last = result["history"][-1]
        score = last.get("val_mean_iu", last.get("val_accuracy"))
        print(f"{stage:10s} {result['seconds']:7.1f} s   val {'mean IU' if 'val_mean_iu' in last else 'accuracy'}"
              f" {score:.3f}")


def _load(args):
    model = MODELS[args.model](args.num_classes, backbone=args.backbone)
    load_checkpoint(args.checkpoint, model)
    return model.to(pick_device(args.device)).eval()


def _evaluate(args) -> None:
    model = _load(args)
    result = evaluate(model, data.voc_dataset(args.root, args.split, num_classes=args.num_classes),
                      num_classes=args.num_classes, device=args.device, progress=True)
    result.pop("confusion")
    print(json.dumps(result, indent=2))


def _predict(args) -> None:
    model = _load(args)
    args.out.mkdir(parents=True, exist_ok=True)
    transform = data.eval_transforms()
    device = next(model.parameters()).device
    for path in args.images:
        try:
            image = Image.open(path).convert("RGB")
        except OSError as err:
            raise SystemExit(f"cannot read {path} ({err}); pass image files (JPEG, PNG)")
        with torch.no_grad():
            pred = model(transform(image)[None].to(device)).argmax(1)[0].cpu().numpy().astype(np.uint8)
        mask = Image.fromarray(pred, mode="P")
        mask.putpalette(data.PALETTE)
        target = args.out / (Path(path).stem + ".png")
        mask.save(target)
        print(f"{path} -> {target}")


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(
        prog="python -m fcn_lesson",
        description="Make the book's dataset, train the FCNs, score them, and segment images.")
    sub = main.add_subparsers(dest="command", required=True, metavar="COMMAND")

    make = sub.add_parser("make-data", help="generate the shape scenes in PASCAL VOC layout",
                          description="Generate the book's shape scenes (deterministic for a seed) in "
                                      "PASCAL VOC layout: ROOT/VOCdevkit/VOC2012/...")
    make.add_argument("--root", type=Path, default=None, help=f"where to write (default {data.default_root()})")
    make.add_argument("--train", type=int, default=recipes.CPU.train_scenes, help="number of training scenes")
    make.add_argument("--val", type=int, default=recipes.CPU.val_scenes, help="number of validation scenes")
    make.add_argument("--size", type=int, default=recipes.CPU.scene_size, help="side of a scene in pixels")
    make.add_argument("--seed", type=int, default=0)
    make.set_defaults(run=_make_data)

    train = sub.add_parser("train", help="pre-train the classifier, then FCN-32s -> 16s -> 8s",
                           description="Run the book's recipe: classifier on shape crops, then FCN-32s, "
                                       "FCN-16s and FCN-8s, each starting from the last. Interrupted runs "
                                       "resume from the checkpoints in --out.")
    train.add_argument("--out", type=Path, default=Path("checkpoints"), help="folder for the checkpoints")
    train.add_argument("--root", type=Path, default=None, help="dataset root (generated if missing)")
    train.add_argument("--scale", choices=sorted(recipes.RECIPES), help="schedule (default: gpu on CUDA, else cpu)")
    train.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    train.set_defaults(run=_train)

    for name, helptext, run in (("evaluate", "score a checkpoint on a VOC-layout split", _evaluate),
                                ("predict", "write colour-coded PNG masks for images", _predict)):
        command = sub.add_parser(name, help=helptext, description=helptext[0].upper() + helptext[1:] + ".")
        command.add_argument("checkpoint", type=Path, help="a .pt file written by 'train'")
        command.add_argument("--model", choices=sorted(MODELS), default="fcn8s", help="the checkpoint's model")
        command.add_argument("--backbone", default="mini", help="mini or vgg16 (as trained)")
        command.add_argument("--num-classes", type=int, default=len(data.CLASSES),
                             help=f"classes incl. background ({len(data.CLASSES)} for the book's data, 21 for VOC)")
        command.add_argument("--device", default=None)
        if name == "evaluate":
            command.add_argument("--root", type=Path, default=None, help="folder holding VOCdevkit/VOC2012")
            command.add_argument("--split", default="val", help="train, val or trainval")
        else:
            command.add_argument("images", nargs="+", help="image files to segment")
            command.add_argument("--out", type=Path, default=Path("predictions"), help="folder for the masks")
        command.set_defaults(run=run)
    return main


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        args.run(args)
    except (ValueError, FileNotFoundError, ConnectionError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
