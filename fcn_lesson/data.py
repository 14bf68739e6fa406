"""The book's dataset: generated shape scenes in PASCAL VOC layout, and one reader for any VOC root.

A scene is a textured background with a few objects whose class is their
*shape* (disc, square, triangle, ring, bar, cross), never their colour, in
sizes from large to small and thin, some occluding others. As in VOC, label
maps are palette PNGs and the pixels on object borders are 255, "ignore". The
files are written exactly where PASCAL VOC 2012 keeps its own
(``<root>/VOCdevkit/VOC2012/{JPEGImages,SegmentationClass,ImageSets/Segmentation}``),
so that torchvision's ``VOCSegmentation`` reads the generated set and the real
one alike, and so does :func:`voc_dataset`.
"""
from __future__ import annotations

import json
import math
import os
from functools import cache
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageOps
from torch.utils.data import Dataset
from torchvision import tv_tensors
from torchvision.datasets import SBDataset, VOCSegmentation
from torchvision.transforms import v2

from . import folders
from .download import prepare_sbd, prepare_voc

__all__ = [
    "bar_widths",
    "CAFFE_MEAN_BGR",
    "CLASSES",
    "IGNORE_INDEX",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "MIN_SCENE_SIZE",
    "ObjectImages",
    "PALETTE",
    "RARE_KEEP",
    "SCENES_FORMAT",
    "SegmentationDataset",
    "class_shares",
    "default_root",
    "eval_transforms",
    "make_dataset",
    "make_scene",
    "object_images",
    "object_pixels",
    "object_radii",
    "read_image",
    "sbd_dataset",
    "scene_radii",
    "to_caffe_input",
    "train_transforms",
    "voc_dataset",
]

#: The classes of the embedded dataset; 0 is background, as in VOC.
CLASSES = ("background", "disc", "square", "triangle", "ring", "bar", "cross")
#: Label value of pixels that are not scored or trained on (VOC's object borders).
IGNORE_INDEX = 255
#: The normalisation torchvision's ImageNet backbones expect (and ours use too).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: The input convention of Caffe's VGG16: BGR channels, values 0-255, minus VGG's mean per channel
#: (B, G, R). The reference FCN nets, whose solvers' rates chapter 8 reads, subtract a slightly different
#: mean, (104.00699, 116.66877, 122.67892) (``voc-fcn8s/net.py``).
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
VOC_CLASSES = 21
_VOC_DIR = Path("VOCdevkit", "VOC2012")
#: The file in a generated VOC tree that records the scenes it holds (written last: there means done).
_SCENES_STAMP = "fcn_lesson.json"
#: The share of its draws a rare class keeps in class-imbalanced scenes (chapter 9).
RARE_KEEP = 0.1
#: Bumped when the generator changes, so that stale scenes are regenerated and models retrained.
SCENES_FORMAT = 1
#: The smallest scene side: the smallest objects (a twentieth of the side) must still be pixels wide.
MIN_SCENE_SIZE = 32


def _voc_palette() -> list[int]:
    """VOC's colour map: the bits of the class index spread over the high bits of R, G and B."""
    palette = []
    for index in range(256):
        r = g = b = 0
        for bit in range(8):
            r |= ((index >> 0) & 1) << (7 - bit)
            g |= ((index >> 1) & 1) << (7 - bit)
            b |= ((index >> 2) & 1) << (7 - bit)
            index >>= 3
        palette += [r, g, b]
    return palette


#: 256 x RGB, flat: the palette of VOC label PNGs (class 1 is dark red, 255 is cream).
PALETTE = _voc_palette()


def default_root(name: str = "shapes") -> Path:
    """Where a generated dataset lives: ``$FCN_LESSON_DATA/<name>``, else ``data/<name>`` in a
    clone of the repository, else ``~/.cache/fcn_lesson/<name>``."""
    if os.environ.get("FCN_LESSON_DATA"):
        return Path(os.environ["FCN_LESSON_DATA"]) / name
    repo_data = Path(__file__).resolve().parent.parent / "data"
    if repo_data.is_dir():
        return repo_data / name
    return Path.home() / ".cache" / "fcn_lesson" / name


# ---------------------------------------------------------------- scene generator

def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A smooth colour field with fine grain: texture that is neither flat nor a shape."""
    coarse = rng.uniform(40, 215, size=(4, 4, 3)).astype(np.uint8)
    field = np.asarray(Image.fromarray(coarse).resize((size, size), Image.BICUBIC), dtype=np.float32)
    return field + rng.normal(0, 12, size=(size, size, 3))


def _polygon(cx, cy, radius, sides, angle):
    return [(cx + radius * math.cos(angle + 2 * math.pi * k / sides),
             cy + radius * math.sin(angle + 2 * math.pi * k / sides)) for k in range(sides)]


def _rotated_rect(cx, cy, length, width, angle):
    c, s = math.cos(angle), math.sin(angle)
    corners = [(-length / 2, -width / 2), (length / 2, -width / 2), (length / 2, width / 2), (-length / 2, width / 2)]
    return [(cx + x * c - y * s, cy + x * s + y * c) for x, y in corners]


def _shape_mask(rng: np.random.Generator, cls: int, size: int, radius: float, centre) -> np.ndarray:
    """The pixels covered by one object of class ``cls`` (see CLASSES)."""
    mask = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(mask)
    cx, cy = centre
    angle = rng.uniform(0, 2 * math.pi)
    box = (cx - radius, cy - radius, cx + radius, cy + radius)
    name = CLASSES[cls]
    if name == "disc":
        draw.ellipse(box, fill=1)
    elif name == "square":
        draw.polygon(_polygon(cx, cy, radius, 4, angle), fill=1)
    elif name == "triangle":
        draw.polygon(_polygon(cx, cy, radius * 1.15, 3, angle), fill=1)
    elif name == "ring":
        inner = radius - max(3.0, radius * 0.35)
        draw.ellipse(box, fill=1)
        if inner >= 1:  # a ring too small for a hole stays a disc; only tiny test images get there
            draw.ellipse((cx - inner, cy - inner, cx + inner, cy + inner), fill=0)
    elif name == "bar":
        draw.polygon(_rotated_rect(cx, cy, 2.4 * radius, rng.uniform(3.5, 5.5), angle), fill=1)
    elif name == "cross":
        arm = max(4.0, radius * 0.45)
        draw.polygon(_rotated_rect(cx, cy, 2 * radius, arm, angle), fill=1)
        draw.polygon(_rotated_rect(cx, cy, 2 * radius, arm, angle + math.pi / 2), fill=1)
    return np.asarray(mask, dtype=bool)


def _paint(rng: np.random.Generator, image: np.ndarray, mask: np.ndarray) -> None:
    """Fill ``mask`` with a random colour and grain, so colour says nothing about class."""
    colour = rng.uniform(0, 255, size=3)
    image[mask] = colour + rng.normal(0, 10, size=(int(mask.sum()), 3))


def _border(label: np.ndarray) -> np.ndarray:
    """Pixels with a 4-neighbour of another label: the 1+1 px band VOC marks 'ignore'."""
    edge = np.zeros(label.shape, dtype=bool)
    vertical = label[1:, :] != label[:-1, :]
    horizontal = label[:, 1:] != label[:, :-1]
    edge[1:, :] |= vertical
    edge[:-1, :] |= vertical
    edge[:, 1:] |= horizontal
    edge[:, :-1] |= horizontal
    return edge


def object_pixels(label, ignore_index: int = IGNORE_INDEX):
    """Where a label map (tensor or array) marks an object: neither background (0) nor ignored."""
    return (label != 0) & (label != ignore_index)


def scene_radii(size: int) -> tuple[float, float]:
    """The range, in pixels, from which :func:`make_scene` draws object radii (log-uniformly)
    for a scene of side ``size``: a twentieth to a quarter of the side."""
    return size / 20, size / 4


def object_radii(size: int) -> tuple[float, float]:
    """The range, in pixels, from which :func:`object_images` draws object radii (log-uniformly)
    for an image of side ``size``: a twelfth of the side to size / 3.2."""
    return size / 12, size / 3.2


def make_scene(rng: np.random.Generator, size: int = 128, max_objects: int = 4, rare: int | None = None,
               *, border: bool = True):
    """One scene: (RGB uint8 image H x W x 3, uint8 label H x W with 255 on borders).

    Object radii are drawn log-uniformly from size/20 to size/4, so large and
    small objects are equally common; objects drawn later occlude earlier ones.
    With ``rare``, that class keeps only :data:`RARE_KEEP` of its draws (the
    others are drawn again from the remaining classes): a class-imbalanced scene.
    With ``border=False`` the label is the exact masks, without the 255 band; the
    draws are the same, so the image is too (what the band hides can be measured).
    """
    image = _background(rng, size)
    label = np.zeros((size, size), dtype=np.uint8)
    for _ in range(rng.integers(1, max_objects + 1)):
        cls = int(rng.integers(1, len(CLASSES)))
        if cls == rare and rng.random() >= RARE_KEEP:
            cls = int(rng.choice([c for c in range(1, len(CLASSES)) if c != rare]))
        radius = math.exp(rng.uniform(*map(math.log, scene_radii(size))))
        centre = rng.uniform(radius * 0.5, size - radius * 0.5, size=2)
        mask = _shape_mask(rng, cls, size, radius, centre)
        _paint(rng, image, mask)
        label[mask] = cls
    if border:
        label[_border(label)] = IGNORE_INDEX
    return np.clip(image, 0, 255).astype(np.uint8), label


def object_images(count: int, size: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The classification view: ``count`` single-object images (uint8, N x 3 x size x size)
    and their shape index (0 = disc ... 5 = cross, i.e. CLASSES[1:]).

    Object radii are drawn log-uniformly from :func:`object_radii` (a twelfth of
    the side to size / 3.2), not the scenes' :func:`scene_radii`: at the book's
    sizes (160 here, 128 for scenes) the objects are larger and the scenes'
    smallest never occur. They sit near the centre; this is the book's stand-in
    for ImageNet, on which the classifier is pre-trained.
    """
    rng = np.random.default_rng(seed)
    images = np.empty((count, size, size, 3), dtype=np.uint8)
    labels = rng.integers(0, len(CLASSES) - 1, size=count)
    for i, shape in enumerate(labels):
        image = _background(rng, size)
        radius = math.exp(rng.uniform(*map(math.log, object_radii(size))))
        centre = size / 2 + rng.uniform(-size / 8, size / 8, size=2)
        _paint(rng, image, _shape_mask(rng, int(shape) + 1, size, radius, centre))
        images[i] = np.clip(image, 0, 255)
    return torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(labels)


class ObjectImages(Dataset):
    """Single-object images and their shape, normalised like the scenes; flipped at random with ``augment``.

    The images are drawn on first use, so a dataset whose model is already
    trained costs nothing.
    """

    def __init__(self, count: int, size: int, seed: int, augment: bool = True):
        self.count, self.size, self.seed, self.augment = count, size, seed, augment
        self.mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
        self.std = torch.tensor(IMAGENET_STD).view(3, 1, 1)

    @property
    def description(self) -> dict:
        return {"objects": self.count, "size": self.size, "seed": self.seed}

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int):
        images, labels = _drawn_objects(self.count, self.size, self.seed)
        image = (images[index].float() / 255 - self.mean) / self.std
        if self.augment and torch.rand(()) < 0.5:
            image = image.flip(-1)
        return image, labels[index]


@cache
def _drawn_objects(count: int, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    return object_images(count, size, seed)


def make_dataset(root: str | Path | None = None, *, train: int = 1200, val: int = 300,
                 size: int = 128, seed: int = 0, rare: int | None = None, name: str = "shapes") -> Path:
    """Write the scenes in VOC layout under ``root``; return ``root``.

    With ``rare``, that class is rare in the training scenes (see :func:`make_scene`);
    the validation scenes keep every class as common as the others, so that it can be scored.

    Deterministic for a given seed, and skipped when the same set is already
    there (a ``fcn_lesson.json`` beside the images records what was made).
    Without ``root``, the scenes live in the module's own cache,
    ``default_root(name)``, where scenes made with other settings are made anew.
    A ``root`` that is passed is the user's: other scenes there are refused,
    never overwritten, and the folder must be new, empty, or made by this
    function (see :mod:`fcn_lesson.folders`). Files are written under temporary
    names and renamed, so an interrupted run leaves no half-written image behind
    (the next call makes the set again); two processes asking for the same
    scenes at once take turns, and the second finds them made.
    """
    for option, value, least in (("train", train, 1), ("val", val, 1), ("size", size, MIN_SCENE_SIZE),
                                 ("seed", seed, 0)):
        if not isinstance(value, int) or isinstance(value, bool) or value < least:
            raise ValueError(f"{option} must be a whole number >= {least}, got {value!r}")
    if rare is not None and not 0 < rare < len(CLASSES):
        raise ValueError(f"rare must be an object class, 1 to {len(CLASSES) - 1}, got {rare}")
    cache = root is None
    root = default_root(name) if cache else Path(root)
    voc = root / _VOC_DIR
    recipe = {"format": SCENES_FORMAT, "train": train, "val": val, "size": size, "seed": seed}
    if rare is not None:
        recipe["rare"] = rare
    stamp = voc / _SCENES_STAMP
    if stamp.exists():  # a tree this function generated
        made = json.loads(stamp.read_text())
        if made == recipe:
            return root
        if not cache or folders.made_by(root) != "make-data":
            raise ValueError(f"{root} holds other scenes ({_describe(made)}) than these ({_describe(recipe)}): "
                             "pass a new or empty folder (nothing in it was changed)")
    elif (voc / "ImageSets").exists() and folders.made_by(root) != "make-data":
        raise ValueError(f"{root} holds a VOC tree that was not generated here: train on it as it is "
                         "(--data voc), or pass a new or empty folder for the generated scenes")
    folders.claim(root, "make-data")  # never writes into anything it did not make
    with folders.lock(root, "scene generation", wait=True):  # a chapter making them too: take turns
        if stamp.exists() and json.loads(stamp.read_text()) == recipe:
            return root  # made while this process waited
        _write_scenes(voc, recipe, rare, names={"train": [f"train_{i:05d}" for i in range(train)],
                                                "val": [f"val_{i:05d}" for i in range(val)]})
    return root


def _write_scenes(voc: Path, recipe: dict, rare: int | None, names: dict[str, list[str]]) -> None:
    """Draw the scenes of ``recipe`` into the VOC tree ``voc``, the stamp last (its presence means done)."""
    stamp = voc / _SCENES_STAMP
    stamp.unlink(missing_ok=True)  # other scenes, from the module's cache: made anew
    for sub in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (voc / sub).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(recipe["seed"])
    for scene in names["train"] + names["val"]:
        image, label = make_scene(rng, recipe["size"], rare=rare if scene.startswith("train") else None)
        _save_atomic(Image.fromarray(image), voc / "JPEGImages" / f"{scene}.jpg", quality=92)
        mask = Image.fromarray(label, mode="P")
        mask.putpalette(PALETTE)
        _save_atomic(mask, voc / "SegmentationClass" / f"{scene}.png")
    for split in ("train", "val"):
        (voc / "ImageSets" / "Segmentation" / f"{split}.txt").write_text("\n".join(names[split]) + "\n")
    (voc / "ImageSets" / "Segmentation" / "trainval.txt").write_text(
        "\n".join(names["train"] + names["val"]) + "\n")
    written = stamp.with_name(stamp.name + ".tmp")  # renamed whole: a reader never sees half of it
    written.write_text(json.dumps(recipe))
    written.replace(stamp)


def exact_masks(root: str | Path, split: str = "val") -> list[np.ndarray]:
    """The exact masks (uint8 H x W, no 255 band) of the scenes :func:`make_dataset` wrote under
    ``root`` for ``split`` ("train", "val" or "trainval"), in the order of that split's list.

    The stored labels carry the ignore band; the masks under it are redrawn by
    replaying the generator's draws (``make_scene(..., border=False)``) from the
    settings recorded in ``root``'s ``fcn_lesson.json``: training scenes first,
    then validation, as :func:`make_dataset` drew them.
    """
    if split not in ("train", "val", "trainval"):
        raise ValueError(f"split must be 'train', 'val' or 'trainval', not {split!r}")
    stamp = Path(root) / _VOC_DIR / _SCENES_STAMP
    if not stamp.exists():
        raise FileNotFoundError(f"{root} holds no scenes made by make_dataset (no {stamp}): "
                                "only generated scenes can be redrawn")
    made = json.loads(stamp.read_text())
    if made.get("format") != SCENES_FORMAT:
        raise ValueError(f"{root} was made by another version of the generator (format "
                         f"{made.get('format')}, this one writes {SCENES_FORMAT}): make the scenes anew")
    rng = np.random.default_rng(made["seed"])
    train = [make_scene(rng, made["size"], rare=made.get("rare"), border=False)[1]
             for _ in range(made["train"])]
    if split == "train":
        return train
    val = [make_scene(rng, made["size"], border=False)[1] for _ in range(made["val"])]
    return val if split == "val" else train + val


def _describe(recipe: dict) -> str:
    return ", ".join(f"{key} {value}" for key, value in recipe.items() if key != "format")


def _save_atomic(image: Image.Image, path: Path, **options) -> None:
    tmp = path.with_name(path.name + ".tmp")
    image.save(tmp, format=path.suffix.lstrip(".").replace("jpg", "jpeg").upper(), **options)
    os.replace(tmp, path)


def class_shares(dataset: Dataset, num_classes: int) -> torch.Tensor:
    """Each class's share of the labelled pixels of ``dataset`` ("ignore" left out), in float64: how
    common each class is, which a loss learns first and a balanced loss divides by."""
    counts = torch.zeros(num_classes, dtype=torch.float64)
    for _, label in dataset:
        kept = label[label != IGNORE_INDEX].flatten()
        if kept.numel() and int(kept.max()) >= num_classes:
            raise ValueError(f"a label holds class {int(kept.max())}, but there are {num_classes} classes")
        counts += torch.bincount(kept, minlength=num_classes).double()
    return counts / counts.sum()


# ---------------------------------------------------------------- reading any VOC root

def read_image(path: str | Path) -> Image.Image:
    """An image file as 8-bit RGB, the way it is meant to be seen.

    A phone photo stores its pixels sideways with an EXIF tag that says how to
    turn them; 16-bit PNGs hold values up to 65535, which a plain conversion
    would clip to white. Both are undone here, so a mask lines up with the
    picture its user sees.
    """
    with Image.open(path) as opened:
        image = ImageOps.exif_transpose(opened)
        if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):  # 16-bit grey: scale 0..65535 to 0..255
            pixels = np.asarray(image, dtype=np.float64) / 257
            image = Image.fromarray(np.clip(np.round(pixels), 0, 255).astype(np.uint8))
        return image.convert("RGB")


def train_transforms(patch_size: int | None = None) -> v2.Compose:
    """Paired image/label augmentation: a random square patch (labels padded with 255), flip, normalise."""
    steps = [v2.ToImage()]
    if patch_size is not None:
        steps.append(v2.RandomCrop(patch_size, pad_if_needed=True, fill={tv_tensors.Image: 0, tv_tensors.Mask: IGNORE_INDEX}))
    steps += [v2.RandomHorizontalFlip(), v2.ToDtype(torch.float32, scale=True), v2.Normalize(IMAGENET_MEAN, IMAGENET_STD)]
    return v2.Compose(steps)


def eval_transforms() -> v2.Compose:
    """Image to normalised float tensor; the label map only becomes a tensor."""
    return v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True), v2.Normalize(IMAGENET_MEAN, IMAGENET_STD)])


def to_caffe_input(image: torch.Tensor) -> torch.Tensor:
    """A torchvision-normalised RGB image (``... x 3 x H x W``) in Caffe's convention: BGR, 0-255, mean off."""
    if image.dim() < 3 or image.shape[-3] != 3:
        raise ValueError(f"expected RGB images shaped ... x 3 x H x W, got {tuple(image.shape)}")
    shape = (3, 1, 1)
    rgb = image * torch.tensor(IMAGENET_STD).view(shape) + torch.tensor(IMAGENET_MEAN).view(shape)
    return 255 * rgb.flip(-3) - torch.tensor(CAFFE_MEAN_BGR).view(shape)


class SegmentationDataset(Dataset):
    """(normalised float image 3 x H x W, long label H x W) pairs from a torchvision VOC-style dataset.

    Every pair is checked as it is read: an unreadable image, an image and
    label of different sizes, or a label value that is neither a class nor 255
    raises a ``ValueError`` naming the file, rather than failing later inside
    a loss function. With ``keep_decoded``, each pair is decoded once and kept
    in memory as uint8 tensors (about 65 kB a 128-px scene): every later epoch
    only flips and normalises. Meant for small sets such as the scenes, read
    in the training process itself (``num_workers=0``).
    """

    def __init__(self, source, num_classes: int, transforms: v2.Compose, keep_decoded: bool = False):
        self.source, self.num_classes, self.transforms = source, num_classes, transforms
        self.decoded: dict[int, tuple[torch.Tensor, torch.Tensor]] | None = {} if keep_decoded else None

    def __len__(self) -> int:
        return len(self.source)

    def files(self, index: int) -> tuple[str, str]:
        """The (image, label) file paths of item ``index``."""
        return self.source.images[index], self.source.masks[index]

    def __getitem__(self, index: int):
        if self.decoded is None:
            image, mask = self._decode(index)
        else:
            if index not in self.decoded:
                self.decoded[index] = self._decode(index)
            image, mask = self.decoded[index]
        image, mask = self.transforms(tv_tensors.Image(image), tv_tensors.Mask(mask))
        return image, mask.long()

    def _decode(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Item ``index`` as checked uint8 tensors: image 3 x H x W, label H x W."""
        image_path, label_path = self.files(index)
        for path in (image_path, label_path):
            if not Path(path).is_file():
                raise FileNotFoundError(f"{path} is missing, but its split file lists it: restore the file, "
                                        "or remove its name from the split file")
        try:
            image, label = self.source[index]
            image.load()
        except Exception as err:  # PIL and scipy raise many kinds; all mean "this file is damaged"
            raise ValueError(f"cannot read {image_path} or its label {label_path} ({err}): the file is "
                             "damaged; replace it (make the scenes into a new folder, or unpack VOC again), "
                             "or remove its name from the split file") from None
        if image.size != label.size:
            raise ValueError(f"{image_path} is {image.size[0]}x{image.size[1]} but its label {label_path} "
                             f"is {label.size[0]}x{label.size[1]}: every label must match its image")
        mask = torch.from_numpy(np.array(label, dtype=np.uint8))
        if mask.dim() != 2:
            raise ValueError(f"{label_path} is a colour image; a label must be a palette (or grayscale) PNG "
                             "whose pixel values are class indices")
        bad = (mask >= self.num_classes) & (mask != IGNORE_INDEX)
        if bad.any():
            raise ValueError(f"{label_path} holds label {int(mask[bad][0])}, but there are {self.num_classes} "
                             f"classes (0..{self.num_classes - 1}) and {IGNORE_INDEX} for 'ignore'; "
                             "check num_classes, or that the PNG is a palette image of class indices")
        return torch.from_numpy(np.array(image.convert("RGB"), dtype=np.uint8)).permute(2, 0, 1), mask


def _missing(root: Path, what: str) -> FileNotFoundError:
    where = f"{root} does not exist" if not root.exists() else f"no {what} under {root}"
    return FileNotFoundError(
        f"{where}: pass the folder that holds VOCdevkit/VOC2012, the book's scenes (made by "
        f"`python -m fcn_lesson make-data --root FOLDER`) or PASCAL VOC 2012 (unpacked there, or fetched "
        f"with download=True when online)")


def voc_dataset(root: str | Path | None = None, image_set: str = "train", *, num_classes: int | None = None,
                patch_size: int | None = None, augment: bool | None = None, keep_decoded: bool = False,
                download: bool = False, ids: list[str] | None = None) -> SegmentationDataset:
    """A VOC-layout dataset: the book's scenes by default, or real PASCAL VOC 2012.

    ``root`` is the folder that holds ``VOCdevkit/VOC2012``. Training sets
    (``augment=True``, the default for ``image_set="train"``) are randomly
    flipped and, with ``patch_size``, cut to random square patches (labels padded with 255);
    all images are normalised with the ImageNet mean and deviation.
    ``keep_decoded`` keeps the decoded files in memory (see :class:`SegmentationDataset`).
    ``ids`` gives the split as image ids instead of a split file (the paper's seg11valid, read from
    VOC 2012's folders); ``image_set`` then only names it. ``download`` fetches VOC 2012 into ``root``
    first if it is not there (see :func:`fcn_lesson.download.prepare_voc`).
    """
    root = Path(root) if root is not None else default_root()
    if download:
        root = prepare_voc(root)
    if ids is not None:
        return _listed_dataset(root, image_set, ids, num_classes, patch_size, augment)
    splits = root / _VOC_DIR / "ImageSets" / "Segmentation"
    split_file = splits / f"{image_set}.txt"
    if not split_file.is_file():
        there = sorted(path.stem for path in splits.glob("*.txt"))
        if there:
            raise FileNotFoundError(f"no split {image_set!r} in {splits}: it has {', '.join(there)}")
        raise _missing(root, f"{_VOC_DIR}/ImageSets/Segmentation/{image_set}.txt")
    lines = split_file.read_text().splitlines()
    if not any(line.strip() for line in lines):
        raise ValueError(f"{split_file} lists no images: add image names (one per line), or pick another split")
    blank = [number for number, line in enumerate(lines, 1) if not line.strip()]
    if blank:
        raise ValueError(f"line {blank[0]} of {split_file} is blank: remove it (each line names one image)")
    if num_classes is None:  # the scenes' 7 where make_dataset made them, else PASCAL VOC's 21
        num_classes = len(CLASSES) if (root / _VOC_DIR / _SCENES_STAMP).exists() else VOC_CLASSES
    augment = image_set == "train" if augment is None else augment
    source = VOCSegmentation(root, year="2012", image_set=image_set)
    return SegmentationDataset(source, num_classes, train_transforms(patch_size) if augment else eval_transforms(),
                               keep_decoded)


def sbd_dataset(root: str | Path, image_set: str = "train", *, patch_size: int | None = None,
                augment: bool | None = None, download: bool = False) -> SegmentationDataset:
    """The Semantic Boundaries Dataset (the paper's extra training data) through torchvision's ``SBDataset``.

    ``root`` holds SBD's ``img/``, ``cls/`` and the split files (``train.txt``,
    ``val.txt``, or ``train_noval.txt``, which leaves out VOC2012 val images), or the archive's
    ``benchmark_RELEASE/dataset`` that does. ``download`` fetches SBD into ``root`` first if it is not
    there (see :func:`fcn_lesson.download.prepare_sbd`).
    """
    root = Path(root)
    if download:
        root = prepare_sbd(root)
    if not (root / "cls").is_dir() and (root / "benchmark_RELEASE" / "dataset" / "cls").is_dir():
        root = root / "benchmark_RELEASE" / "dataset"
    if not (root / f"{image_set}.txt").exists() or not (root / "cls").is_dir():
        raise FileNotFoundError(f"no SBD split {image_set}.txt with img/ and cls/ under {root}: pass the folder "
                                "that holds them (benchmark_RELEASE/dataset in SBD's archive, which "
                                "`python -m fcn_lesson download` fetches)")
    source = SBDataset(root, image_set=image_set, mode="segmentation")
    augment = image_set.startswith("train") if augment is None else augment
    return SegmentationDataset(source, VOC_CLASSES, train_transforms(patch_size) if augment else eval_transforms())


class _ListedImages:
    """VOC 2012's images and labels for a list of ids, read as torchvision's ``VOCSegmentation`` reads
    a split file's: (RGB image, label image)."""

    def __init__(self, voc: Path, ids: list[str]):
        self.images = [str(voc / "JPEGImages" / f"{name}.jpg") for name in ids]
        self.masks = [str(voc / "SegmentationClass" / f"{name}.png") for name in ids]

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        return Image.open(self.images[index]).convert("RGB"), Image.open(self.masks[index])


def _listed_dataset(root: Path, name: str, ids: list[str], num_classes, patch_size, augment) -> SegmentationDataset:
    voc = root / _VOC_DIR
    if not (voc / "SegmentationClass").is_dir():
        raise _missing(root, f"{_VOC_DIR}/SegmentationClass")
    missing = [image for image in ids if not (voc / "SegmentationClass" / f"{image}.png").is_file()]
    if missing:
        raise FileNotFoundError(f"{len(missing)} of the {len(ids)} images of {name} have no label under "
                                f"{voc / 'SegmentationClass'} (the first: {missing[0]}): pass the root of the "
                                "whole PASCAL VOC 2012 (train + val)")
    transforms = train_transforms(patch_size) if augment else eval_transforms()
    return SegmentationDataset(_ListedImages(voc, ids), num_classes or VOC_CLASSES, transforms)


def bar_widths(is_bar: np.ndarray, scored: np.ndarray, min_pixels: int = 30) -> list[tuple[float, float]]:
    """(drawn, scored) width in px of each connected piece of ``is_bar`` with ``min_pixels`` or more.

    A bar's pixels spread evenly along its axis, so their variance along it (the covariance's larger
    eigenvalue) is its length squared over 12; its pixels over its length give its drawn width, and
    its pixels where ``scored`` is true over its length the width that is scored."""
    from scipy import ndimage

    pieces, count = ndimage.label(is_bar)  # bars, and the parts that occlusion left
    widths = []
    for piece in range(1, count + 1):
        rows, cols = np.nonzero(pieces == piece)
        if len(rows) >= min_pixels:
            along = np.linalg.eigvalsh(np.cov(np.stack([rows, cols])))[-1]
            length = math.sqrt(12 * along)
            widths.append((len(rows) / length, float(scored[rows, cols].sum()) / length))
    return widths
