"""Command line: ``python -m fcn_lesson {make-data,train,evaluate,predict,download,results,student-edition}
--help``.

Every mistake a user can make (a missing file, a folder that is not ours, a
device that is not there, a checkpoint from another run, an option out of
range) ends in one ``error: ...`` line that names the option, path or value and
the fix, with exit code 2; nothing is written outside the folders the commands
make (see :mod:`fcn_lesson.folders`).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from . import data, download, folders, fullscale, notebooks, recipe as recipes
from .checkpoints import load_model, read_checkpoint, strip_checkpoint
from .reference_models import RESULT_PLANS
from .registry import SEGMENTATION_MODELS, model_spec
from .train import PRECISIONS, evaluate, is_main_process, pick_device, predict

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")
#: Options that mean something for one kind of data only.
_VOC_ONLY = ("sbd", "split", "backbone", "random_init", "steps", "limit", "download")


class _Parser(argparse.ArgumentParser):
    """argparse, but a mistake is one ``error:`` line (argparse's own prints the usage first)."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def _whole_number(minimum: int):
    """An argparse type: a whole number of at least ``minimum``, refused naming the option otherwise."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"must be a whole number >= {minimum}, got {text!r}")
        return value
    parse.__name__ = f"whole number >= {minimum}"
    return parse


def _device(text: str):
    """An argparse type: a device that is there (see :func:`train.pick_device`)."""
    try:
        return pick_device(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _check_launch() -> None:
    """A rank without a job: ``RANK`` set by hand (or left over) where ``torchrun`` did not start one."""
    import os

    rank, world = os.environ.get("RANK"), os.environ.get("WORLD_SIZE", "1")
    if rank not in (None, "0") and world in ("", "1"):
        raise ValueError(f"RANK={rank} is set but WORLD_SIZE is not above 1: start several processes with "
                         "torchrun --nproc_per_node=N -m fcn_lesson train ..., or unset RANK")


def _make_data(args) -> None:
    root = data.make_dataset(args.root, train=args.train, val=args.val, size=args.size, seed=args.seed)
    print(f"wrote {args.train} train and {args.val} val scenes in VOC layout under {root}")


def _train(args) -> None:
    _check_launch()
    device = pick_device(args.device)
    recipes_here = recipes.RECIPES if args.data == "shapes" else fullscale.RECIPES
    if args.recipe is not None and args.recipe not in recipes_here:
        raise ValueError(f"--recipe {args.recipe} is not a recipe for --data {args.data}; "
                         f"use one of {', '.join(recipes_here)}")
    if args.reuse is not None and (args.data == "voc" or not args.reuse.is_dir()):
        raise ValueError(f"--reuse {args.reuse}: " + ("for --data shapes only" if args.data == "voc" else
                         "no such folder; pass a folder of checkpoints written by train"))
    if args.data == "voc":
        results = _train_voc(args, device)
    else:
        given = [f"--{name.replace('_', '-')}" for name in _VOC_ONLY if getattr(args, name) not in (None, False)]
        if given:
            raise ValueError(f"{', '.join(given)}: for --data voc only; the scenes need none of them")
        recipe = recipes.RECIPES[args.recipe] if args.recipe else recipes.default_recipe(device)
        if args.precision is not None:
            recipe = recipe.with_precision(args.precision)
        stages = [stage.name for stage in recipe.plan(args.plan).stages]
        if args.stage is not None and args.stage not in stages:
            raise ValueError(f"--stage {args.stage}: plan '{args.plan}' has no such stage; pass one of "
                             f"{', '.join(stages)}")
        _say(f"recipe '{recipe.name}', plan '{args.plan}' on {device}; checkpoints in {args.out}")
        results = recipes.train(recipe, args.plan, until=args.stage, out=args.out, root=args.root,
                                reuse=args.reuse, device=device)
    if args.weights_only and is_main_process():
        for stage in results:  # those written here: a stage loaded from --reuse stays as it is there
            if (args.out / f"{stage}.pt").is_file():
                strip_checkpoint(args.out / f"{stage}.pt")
    if is_main_process():
        for stage, result in results.items():
            last = result.history[-1]
            label, key = ("mean IU", "val_mean_iu") if "val_mean_iu" in last else ("accuracy", "val_accuracy")
            print(f"{stage:14s} {result.seconds:7.1f} s   val {label} {last[key]:.3f}")


def _train_voc(args, device):
    if args.root is None:
        raise ValueError("--data voc needs --root, the folder that holds VOCdevkit/VOC2012")
    if args.plan != "staged":
        raise ValueError(f"--plan {args.plan}: VOC is trained staged only; leave --plan out")
    if args.stage is not None:
        raise ValueError(f"--stage {args.stage}: for --data shapes only; VOC trains its three stages in order")
    recipe = fullscale.RECIPES[args.recipe or "modern"]
    if args.precision is not None:
        recipe = recipe.with_precision(args.precision)
    _say(f"{recipe.name} recipe on {device}, backbone {args.backbone} "
         f"({'random' if args.random_init else 'ImageNet'} weights); checkpoints in {args.out}")
    return fullscale.train_voc(recipe, args.out, args.root, sbd_root=args.sbd, split=args.split or "modern",
                               backbone=args.backbone or "vgg16",
                               pretrained=not args.random_init, steps=args.steps, limit=args.limit,
                               num_workers=args.workers, download=args.download, device=device)


def _say(message: str) -> None:
    """Print once: under torchrun only rank 0 speaks (and only it has validation scores)."""
    if is_main_process():
        print(message, flush=True)


def _interrupted(out: Path) -> str:
    """What Ctrl-C during ``train`` left behind, and how to go on."""
    saved = sorted(out.glob("*.pt"), key=lambda path: path.stat().st_mtime) if out.is_dir() else []
    if not saved:
        return "interrupted before the first epoch ended: nothing was saved; run the same command to start again"
    state = read_checkpoint(saved[-1])
    return (f"interrupted: the last checkpoint is {saved[-1]} (epoch {state['epoch']} of {state['epochs']}); "
            "run the same command to resume from it")


def _load_segmenter(args):
    """The model in ``args.checkpoint``, if it labels every pixel (an FCN or a descendant)."""
    model = load_model(args.checkpoint, map_location=pick_device(args.device))
    name = model_spec(model)["name"]
    if name not in SEGMENTATION_MODELS:
        raise ValueError(f"{args.checkpoint} holds a {name}, which labels whole images, not pixels: pass a "
                         f"checkpoint of {', '.join(SEGMENTATION_MODELS)} (fcn8s.pt, for example)")
    return model


def _evaluate(args) -> None:
    model = _load_segmenter(args)
    ids = download.seg11valid(data.default_root("splits")) if args.split == "seg11valid" else None
    split = data.voc_dataset(args.root, args.split, augment=False, ids=ids)
    if model.num_classes != split.num_classes:
        what = "the book's scenes" if split.num_classes == len(data.CLASSES) else "PASCAL VOC"
        raise ValueError(f"{args.checkpoint} tells {model.num_classes} classes apart, {what} "
                         f"{split.num_classes}: pass --root, the folder that holds the VOCdevkit/VOC2012 it was "
                         "trained for")
    result = evaluate(model, split, device=args.device, boundary=args.boundary, progress=True)
    result.pop("confusion")
    print(json.dumps(_strict_json(result), indent=2, allow_nan=False))


def _strict_json(value):
    """``value`` with every NaN (the IU of a class that appears nowhere) as None: JSON has no NaN."""
    if isinstance(value, dict):
        return {key: _strict_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_strict_json(item) for item in value]
    return None if isinstance(value, float) and value != value else value


def _image_files(paths: list[Path]) -> list[Path]:
    """The files named, and the image files inside the folders named (not their subfolders), in order."""
    files = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        else:
            files.append(path)
    return files


def _free_name(folder: Path, stem: str) -> Path:
    """``folder/stem.png``, or ``stem-2.png``, ``stem-3.png`` ...: never a file that exists."""
    target, count = folder / f"{stem}.png", 1
    while target.exists():
        count += 1
        target = folder / f"{stem}-{count}.png"
    return target


def _predict(args) -> int:
    missing = [path for path in args.images if not path.exists()]
    if missing:
        raise FileNotFoundError(f"{missing[0]} does not exist: pass image files or folders that hold them "
                                "(nothing was written)")
    model = _load_segmenter(args)
    images = _image_files(args.images)
    if not images:
        raise ValueError(f"no image files ({', '.join(IMAGE_SUFFIXES)}) in {', '.join(map(str, args.images))}")
    out = folders.claim(args.out, "predict")
    transform, failed = data.eval_transforms(), 0
    for path in images:
        try:
            image = data.read_image(path)
        except (OSError, ValueError) as err:
            print(f"skipped {path}: not a readable image ({type(err).__name__})", file=sys.stderr)
            failed += 1
            continue
        mask = Image.fromarray(predict(model, transform(image)).numpy().astype(np.uint8), mode="P")
        mask.putpalette(data.PALETTE)
        target = _free_name(out, path.stem)
        mask.save(target)
        print(f"{path} -> {target}")
    if failed:
        print(f"error: {failed} of {len(images)} images could not be read (listed above); the others are in {out}",
              file=sys.stderr)
        return 1
    return 0


def _download(args) -> None:
    voc = download.prepare_voc(args.root, local=args.local_voc)
    print(f"PASCAL VOC 2012: {voc / 'VOCdevkit' / 'VOC2012'}")
    if not args.no_sbd:
        print(f"SBD: {download.prepare_sbd(args.sbd, local=args.local_sbd)}")
    ids = download.seg11valid(data.default_root("splits"))
    print(f"seg11valid: {len(ids)} image ids in {data.default_root('splits') / download.SEG11VALID.filename}")
    print(f"train with: python -m fcn_lesson train --data voc --root {voc}"
          + ("" if args.no_sbd else f" --sbd {args.sbd if args.local_sbd is None else args.local_sbd}"))


def _results(args) -> None:
    from . import evidence  # loads the stored results only for this command

    if args.seeds is not None and (args.record is None or not args.seeds.is_dir()):
        raise ValueError(f"--seeds {args.seeds}: " + (
            "goes with --record FOLDER" if args.record is None else
            "no such folder; pass the folder that train --plan seeds (rare_seeds, longer, ...) wrote"))
    if args.record is not None:
        print(f"wrote {evidence.record(args.record, seeds=args.seeds)}")
        return
    print(evidence.report(args.plan, args.scenes))


def _student_edition(args) -> None:
    written = notebooks.student_edition(args.book, args.out)
    print(f"wrote the student edition ({len(written)} chapters, solutions removed) to {args.out}; "
          f"build it with: jupyter-book build {args.out}")


def parser() -> argparse.ArgumentParser:
    main = _Parser(
        prog="python -m fcn_lesson",
        description="Make the book's dataset, train the FCNs, score them, and segment images. Commands write "
                    "only into folders that are new, empty, or made by the same command.")
    sub = main.add_subparsers(dest="command", required=True, metavar="COMMAND")

    make = sub.add_parser("make-data", help="generate the shape scenes in PASCAL VOC layout",
                          description="Generate the book's shape scenes (deterministic for a seed) in "
                                      "PASCAL VOC layout: ROOT/VOCdevkit/VOC2012/...")
    make.add_argument("--root", type=Path, default=None, help=f"where to write (default {data.default_root()})")
    make.add_argument("--train", type=_whole_number(1), default=recipes.CPU.train_scenes,
                      help="number of training scenes")
    make.add_argument("--val", type=_whole_number(1), default=recipes.CPU.val_scenes,
                      help="number of validation scenes")
    make.add_argument("--size", type=_whole_number(data.MIN_SCENE_SIZE), default=recipes.CPU.scene_size,
                      help=f"side of a scene in pixels (at least {data.MIN_SCENE_SIZE})")
    make.add_argument("--seed", type=_whole_number(0), default=0)
    make.set_defaults(run=_make_data)

    train = sub.add_parser("train", help="train FCN-32s -> 16s -> 8s (on the book's scenes, or on VOC)",
                           description="On the book's scenes (--data shapes): pre-train the classifier on single "
                                       "objects, then FCN-32s, FCN-16s and FCN-8s, each starting from the last. "
                                       "On PASCAL VOC (--data voc): FCN-32s from ImageNet VGG16, then 16s and 8s. "
                                       "An interrupted run resumes when the same command is run again; a "
                                       "checkpoint made with other settings is refused. Under "
                                       "torchrun --nproc_per_node=N, one process per GPU.")
    train.add_argument("--data", choices=("shapes", "voc"), default="shapes", help="the book's scenes or PASCAL VOC")
    train.add_argument("--recipe", default=None,
                       help=f"shapes: {', '.join(recipes.RECIPES)} (default: gpu on CUDA, else cpu); "
                            f"voc: {', '.join(fullscale.RECIPES)} (default: modern)")
    train.add_argument("--plan", choices=recipes.PLANS, default="staged",
                       help="shapes: staged (classifier -> 32s -> 16s -> 8s); ablation (chapter 7's "
                            "controlled experiment: also one-stage FCNs over three seeds, at once, learned "
                            "upsampling, from scratch, each as long as the three staged FCN stages together); "
                            "after (chapter 9: a dilated network and a U-Net from the same classifiers, as "
                            "long); imbalance (chapter 9: FCN-8s with a plain and a class-balanced loss on "
                            "scenes where the disc is rare); seeds (the rows of ablation and after again from "
                            "the seed-0 classifier with four more FCN seeds, the controls with two); "
                            "rare_seeds (the imbalance rows with two more FCN seeds); longer and rare_longer "
                            "(the rows of seed 0 trained 1.5 times as long: had they levelled?); longest and "
                            "rare_longest (2.25 times as long); furthest and rare_furthest (3.5 times as long); "
                            "beyond and rare_beyond (5.25 times as long). For the last ten, --reuse "
                            "fcn_lesson/reference starts from the shipped classifiers")
    train.add_argument("--stage", default=None, metavar="NAME",
                       help="shapes: train only this stage of the plan and the stages it starts from (for "
                            "example unet_furthest, with --reuse for its classifier)")
    train.add_argument("--reuse", type=Path, default=None, metavar="FOLDER",
                       help="shapes: load the stages that FOLDER holds finished, made by the same run, from "
                            "there instead of training them (FOLDER is only read)")
    train.add_argument("--out", type=Path, default=Path("checkpoints"),
                       help="folder for the checkpoints (new, empty, or made by an earlier train)")
    train.add_argument("--root", type=Path, default=None,
                       help="shapes: where the scenes are generated (default: the book's); "
                            "voc: the folder holding VOCdevkit/VOC2012")
    train.add_argument("--device", type=_device, default=None,
                       help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    train.add_argument("--precision", choices=PRECISIONS, default=None,
                       help="auto: mixed precision where the device computes it natively (bfloat16 on recent CPUs "
                            "and GPUs); float32: never (default: the recipe's)")
    train.add_argument("--weights-only", action="store_true",
                       help="finished checkpoints for shipping: no optimizer state, learned weights in half "
                            "precision (a sixth of the size; they can no longer be resumed)")
    train.add_argument("--sbd", type=Path, default=None, help="voc: SBD root, adds its train_noval images")
    train.add_argument("--backbone", choices=("vgg16", "mini"), default=None, help="voc: the network layout")
    train.add_argument("--random-init", action="store_true", help="voc: no ImageNet weights (smoke runs)")
    train.add_argument("--steps", type=_whole_number(1), default=None,
                       help="voc: optimizer steps per stage (default: the recipe's)")
    train.add_argument("--limit", type=_whole_number(1), default=None,
                       help="voc: use only the first N images (smoke runs)")
    train.add_argument("--workers", type=_whole_number(0), default=4, help="voc: data-loading processes per GPU")
    train.add_argument("--download", action="store_true",
                       help="voc: fetch VOC (and SBD) into --root/--sbd first if they are not there "
                            "(see the download command)")
    train.add_argument("--split", choices=fullscale.SPLITS, default=None,
                       help="voc: modern (VOC 2012 train + SBD train_noval; VOC 2012 val) or paper (SBD "
                            "train; the paper's seg11valid, on which its scores are) (default: modern)")
    train.set_defaults(run=_train)

    fetch = sub.add_parser("download", help="fetch PASCAL VOC 2012, SBD and the paper's validation list",
                           description="Fetch PASCAL VOC 2012 and SBD, each from the first of its sources that "
                                       "gives a copy with the official checksum (an interrupted transfer "
                                       "resumes), or use a copy you have (--local-voc, --local-sbd: the archive "
                                       "or the folder it was unpacked into); then the paper's seg11valid list.")
    fetch.add_argument("--root", type=Path, default=data.default_root("voc"),
                       help="folder for VOC (it will hold VOCdevkit/VOC2012; new, empty, or made by download)")
    fetch.add_argument("--sbd", type=Path, default=data.default_root("sbd"), help="folder for SBD")
    fetch.add_argument("--local-voc", type=Path, default=None, help="VOCtrainval_11-May-2012.tar, or its folder")
    fetch.add_argument("--local-sbd", type=Path, default=None, help="benchmark.tgz, or its folder")
    fetch.add_argument("--no-sbd", action="store_true", help="VOC alone")
    fetch.set_defaults(run=_download)

    student = sub.add_parser("student-edition", help="write the book without its solutions, for a class",
                             description="Write the student edition: every chapter with its solutions removed "
                                         "(coding exercises become stubs that still call their checker), "
                                         "ready to hand out or to build with jupyter-book.")
    student.add_argument("--out", type=Path, default=Path("student"),
                         help="folder to write (new, empty, or an earlier student edition)")
    student.add_argument("--book", type=Path, default=Path(__file__).resolve().parent.parent,
                         help="the book's repository root (default: the one this module is in)")
    student.set_defaults(run=_student_edition)

    results = sub.add_parser("results", help="print every arm and comparison of chapters 6, 7 and 9, with verdicts",
                             description="Print, from the shipped models' stored per-scene counts, each arm of "
                                         "the reference plans (its seeds, its mean IU with a 95% interval over "
                                         "seeds and scenes) and each comparison the chapters draw, with its "
                                         "verdict and whether the fresh scenes agree. Nothing is trained or "
                                         "scored.")
    results.add_argument("--plan", choices=RESULT_PLANS, default=None,
                         help="only this plan's arms; longer: only whether each row had levelled, and at which "
                              "budget (train --plan longer, rare_longer, longest, rare_longest, furthest, "
                              "rare_furthest, beyond and rare_beyond)")
    results.add_argument("--scenes", choices=("val", "fresh"), default="val",
                         help="the book's validation scenes (default) or the fresh ones")
    results.add_argument("--record", type=Path, default=None, metavar="FOLDER",
                         help="instead: score the models train made in FOLDER on both scene sets and write "
                              "FOLDER/results.npz (how the shipped results were made)")
    results.add_argument("--seeds", type=Path, default=None, metavar="FOLDER",
                         help="with --record: also score the finished models of FOLDER, where train --plan "
                              "seeds, rare_seeds or a longer plan wrote (only read)")
    results.set_defaults(run=_results)

    for name, helptext, run in (("evaluate", "score a checkpoint on a VOC-layout split", _evaluate),
                                ("predict", "write colour-coded PNG masks for images", _predict)):
        command = sub.add_parser(name, help=helptext, description=helptext[0].upper() + helptext[1:] +
                                 "; the checkpoint says which model it holds.")
        command.add_argument("checkpoint", type=Path, help="a .pt file written by 'train'")
        command.add_argument("--device", type=_device, default=None,
                             help="cpu, cuda, cuda:1 ... (default: cuda if available)")
        if name == "evaluate":
            command.add_argument("--root", type=Path, default=None,
                                 help="folder holding VOCdevkit/VOC2012 (default: the book's scenes)")
            command.add_argument("--split", default="val",
                                 help="train, val, trainval, or seg11valid (the paper's validation images, "
                                      "VOC only); scored without augmentation")
            command.add_argument("--boundary", type=_whole_number(0), default=None,
                                 help="also score the pixels within this many pixels of an object's outline")
        else:
            command.add_argument("images", nargs="+", type=Path, help="image files, or folders of them")
            command.add_argument("--out", type=Path, default=Path("predictions"),
                                 help="folder for the masks (new, empty, or made by an earlier predict)")
        command.set_defaults(run=run)
    return main


def main(argv: list[str] | None = None) -> int:
    try:
        args = parser().parse_args(argv)
    except SystemExit as done:  # --help, or a mistake in the options (one error line, printed)
        return done.code
    try:
        return args.run(args) or 0
    except KeyboardInterrupt:
        if args.command == "train" and is_main_process():
            print(f"error: {_interrupted(args.out)}", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError, ConnectionError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"error: {err.filename or ''}: {err.strerror or err}; check the path and its permissions",
              file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
