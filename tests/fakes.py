"""Small stand-ins for PASCAL VOC 2012 and SBD, in their real layouts, made by the tests."""
import numpy as np
import scipy.io
from PIL import Image

from fcn_lesson import data


def make_fake_voc(root, train=("2007_000032", "2008_000001"), val=("2007_000033",), size=(40, 56)):
    """VOCdevkit/VOC2012 with JPEGs, palette label PNGs of 21 classes (255 borders) and split files."""
    voc = root / "VOCdevkit" / "VOC2012"
    for folder in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (voc / folder).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    for name in (*train, *val):
        Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(voc / "JPEGImages" / f"{name}.jpg")
        label = np.zeros(size, dtype=np.uint8)
        label[5:25, 10:40] = rng.integers(1, 21)
        label[5, 10:40] = 255
        png = Image.fromarray(label, mode="P")
        png.putpalette(data.PALETTE)
        png.save(voc / "SegmentationClass" / f"{name}.png")
    (voc / "ImageSets" / "Segmentation" / "train.txt").write_text("\n".join(train) + "\n")
    (voc / "ImageSets" / "Segmentation" / "val.txt").write_text("\n".join(val) + "\n")
    return root


def make_fake_sbd(root, names=("2008_000001", "2008_000002"), split="train"):
    """SBD's layout: img/*.jpg, cls/*.mat (struct GTcls with a Segmentation field), a split file."""
    (root / "img").mkdir(parents=True, exist_ok=True)
    (root / "cls").mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    for name in names:
        Image.fromarray(rng.integers(0, 255, (20, 30, 3), dtype=np.uint8)).save(root / "img" / f"{name}.jpg")
        segmentation = rng.integers(0, 21, (20, 30)).astype(np.uint8)
        scipy.io.savemat(root / "cls" / f"{name}.mat", {"GTcls": {"Segmentation": segmentation}})
    (root / f"{split}.txt").write_text("\n".join(names) + "\n")
    return root
