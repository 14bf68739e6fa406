"""Command line: ``python -m fcn_lesson {make-data,train,evaluate,predict,student-edition} --help``."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from . import data, fullscale, notebooks, recipe as recipes
from .models import FCN8s, FCN16s, FCN32s
from .train import evaluate, is_main_process, load_checkpoint, pick_device, predict, strip_checkpoint

MODELS = {"fcn32s": FCN32s, "fcn16s": FCN16s, "fcn8s": FCN8s}


def _make_data(args) -> None:
    root = data.make_dataset(args.root, train=args.train, val=args.val, size=args.size, seed=args.seed)
    print(f"wrote {args.train} train and {args.val} val scenes in VOC layout under {root}")


def _say(message: str) -> None:
    """Print once: under torchrun only rank 0 speaks (and only it has validation scores)."""
    if is_main_process():
        print(message)


def _report(results: dict[str, dict]) -> None:
    if not is_main_process():
        return
    for stage, result in results.items():
        last = result["history"][-1]
        score = last.get("val_mean_iu", last.get("val_accuracy"))
        print(f"{stage:14s} {result['seconds']:7.1f} s   val {'mean IU' if 'val_mean_iu' in last else 'accuracy'}"
              f" {score:.3f}")


def _train(args) -> None:
    if args.data == "voc":
        _train_voc(args)
        return
    recipe = recipes.default_recipe(args.device)
    if args.scale:
        recipe = recipes.RECIPES[args.scale]
    _say(f"recipe '{recipe.name}' on {pick_device(args.device)}; checkpoints in {args.out}")
    results = recipes.train_staged(recipe, args.out, root=args.root, device=args.device)
    if args.compare:
        for how in ("at_once", "scratch"):
            results[f"fcn8s_{how}"] = recipes.train_alternative(recipe, args.out, how, root=args.root,
                                                                 classifier=results["classifier"]["model"],
                                                                 device=args.device)
    if args.weights_only and is_main_process():
        for stage in results:
            strip_checkpoint(args.out / f"{stage}.pt")
    _report(results)


def _train_voc(args) -> None:
    if args.root is None:
        raise ValueError("--data voc needs --root, the folder that holds VOCdevkit/VOC2012")
    schedule = fullscale.SCHEDULES[args.recipe]
    _say(f"{schedule.name} recipe on {pick_device(args.device)}, backbone {args.backbone} "
         f"({'random' if args.random_init else 'ImageNet'} weights); checkpoints in {args.out}")
    results = fullscale.train_voc(schedule, args.out, args.root, sbd_root=args.sbd, backbone=args.backbone,
                                  pretrained=not args.random_init, iterations=args.iterations, limit=args.limit,
                                  num_workers=args.workers, download=args.download, device=args.device)
    _report(results)


def _student_edition(args) -> None:
    written = notebooks.student_edition(args.book, args.out)
    print(f"wrote the student edition ({len(written)} chapters, solutions removed) to {args.out}; "
          f"build it with: jupyter-book build {args.out}")


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
    for path in args.images:
        try:
            image = Image.open(path).convert("RGB")
        except OSError as err:
            raise SystemExit(f"cannot read {path} ({err}); pass image files (JPEG, PNG)")
        mask = Image.fromarray(predict(model, transform(image)).numpy().astype(np.uint8), mode="P")
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

    train = sub.add_parser("train", help="train FCN-32s -> 16s -> 8s (on the book's scenes, or on VOC)",
                           description="On the book's scenes (--data shapes): pre-train the classifier on shape "
                                       "crops, then FCN-32s, FCN-16s and FCN-8s, each starting from the last. "
                                       "On PASCAL VOC (--data voc): FCN-32s from ImageNet VGG16, then 16s and 8s. "
                                       "Interrupted runs resume from the checkpoints in --out. Under "
                                       "torchrun --nproc_per_node=N, one process per GPU.")
    train.add_argument("--data", choices=("shapes", "voc"), default="shapes", help="the book's scenes or PASCAL VOC")
    train.add_argument("--out", type=Path, default=Path("checkpoints"), help="folder for the checkpoints")
    train.add_argument("--root", type=Path, default=None,
                       help="dataset root: the scenes (generated if missing) or the folder holding VOCdevkit/VOC2012")
    train.add_argument("--scale", choices=sorted(recipes.RECIPES),
                       help="shapes: schedule (default: gpu on CUDA, else cpu)")
    train.add_argument("--recipe", choices=sorted(fullscale.SCHEDULES), default="modern",
                       help="voc: the paper's schedule or the modern one")
    train.add_argument("--sbd", type=Path, default=None, help="voc: SBD root, adds its train_noval images")
    train.add_argument("--backbone", choices=("vgg16", "mini"), default="vgg16", help="voc: the network layout")
    train.add_argument("--random-init", action="store_true", help="voc: no ImageNet weights (smoke runs)")
    train.add_argument("--iterations", type=int, default=None, help="voc: steps per stage (default: the recipe's)")
    train.add_argument("--limit", type=int, default=None, help="voc: use only the first N images (smoke runs)")
    train.add_argument("--workers", type=int, default=4, help="voc: data-loading processes per GPU")
    train.add_argument("--download", action="store_true", help="voc: fetch VOC (and SBD) into --root/--sbd")
    train.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    train.add_argument("--compare", action="store_true",
                       help="shapes: also train FCN-8s at once and from scratch, as long as the three stages together")
    train.add_argument("--weights-only", action="store_true",
                       help="shapes: drop the optimizer state from the finished checkpoints (a third of the size; "
                            "they can no longer be resumed)")
    train.set_defaults(run=_train)

    student = sub.add_parser("student-edition", help="write the book without its solutions, for a class",
                             description="Write the student edition: every chapter with its solutions removed "
                                         "(coding exercises become stubs that still call their checker), "
                                         "ready to hand out or to build with jupyter-book.")
    student.add_argument("--out", type=Path, default=Path("student"), help="folder to write (replaced)")
    student.add_argument("--book", type=Path, default=Path(__file__).resolve().parent.parent,
                         help="the book's repository root (default: the one this module is in)")
    student.set_defaults(run=_student_edition)

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
