import shutil
import subprocess
import sys
import urllib.error
import urllib.request

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.datasets import VOCSegmentation

from fcn_lesson import data

from fakes import make_fake_sbd, make_fake_voc

VOC = ("VOCdevkit", "VOC2012")


def test_scenes_are_deterministic_and_labelled_as_voc():
    a_image, a_label = data.make_scene(np.random.default_rng(5), 96)
    b_image, b_label = data.make_scene(np.random.default_rng(5), 96)
    assert np.array_equal(a_image, b_image) and np.array_equal(a_label, b_label)
    assert a_image.shape == (96, 96, 3) and a_image.dtype == np.uint8 and a_label.shape == (96, 96)
    assert set(np.unique(a_label)) <= set(range(len(data.CLASSES))) | {255}
    c_image, _ = data.make_scene(np.random.default_rng(6), 96)
    assert not np.array_equal(a_image, c_image)


def test_borders_are_ignored_and_every_class_occurs():
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(40):
        _, label = data.make_scene(rng, 128)
        seen |= set(np.unique(label).tolist())
        # no two different classes touch: a 255 band always separates them
        for a, b in ((label[1:], label[:-1]), (label[:, 1:], label[:, :-1])):
            differ = (a != b) & (a != 255) & (b != 255)
            assert not differ.any()
    assert seen == set(range(len(data.CLASSES))) | {255}


def test_colour_says_nothing_about_the_class():
    rng = np.random.default_rng(1)
    colours = {cls: [] for cls in range(1, len(data.CLASSES))}
    for _ in range(60):
        image, label = data.make_scene(rng, 128)
        for cls in np.unique(label):
            if 0 < cls < 255 and (label == cls).sum() > 20:
                colours[int(cls)].append(image[label == cls].mean(0))
    for cls, values in colours.items():
        assert len(values) >= 5 and np.std(values, axis=0).mean() > 40, data.CLASSES[cls]


def test_object_images_are_deterministic_and_labelled():
    images, labels = data.object_images(12, 32, seed=4)
    again, _ = data.object_images(12, 32, seed=4)
    assert images.shape == (12, 3, 32, 32) and images.dtype == torch.uint8 and torch.equal(images, again)
    assert labels.min() >= 0 and labels.max() < len(data.CLASSES) - 1


def test_torchvision_reads_the_generated_set_unchanged(scenes):
    voc = VOCSegmentation(scenes, year="2012", image_set="train")
    image, label = voc[0]
    assert len(voc) == 6 and image.size == label.size == (64, 64) and label.mode == "P"
    assert label.getpalette()[:6] == data.PALETTE[:6]
    assert len(VOCSegmentation(scenes, year="2012", image_set="val")) == 4


def test_make_dataset_skips_an_identical_set_and_refuses_to_change_a_users(tmp_path):
    root = data.make_dataset(tmp_path, train=2, val=1, size=32)
    jpeg = tmp_path.joinpath(*VOC, "JPEGImages", "train_00000.jpg")
    stamp = jpeg.stat().st_mtime_ns
    data.make_dataset(root, train=2, val=1, size=32)
    assert jpeg.stat().st_mtime_ns == stamp
    with pytest.raises(ValueError, match=r"holds other scenes \(train 2, val 1, size 32, seed 0\) than these "
                                         r"\(train 2, val 1, size 40, seed 0\)"):
        data.make_dataset(root, train=2, val=1, size=40)
    assert jpeg.stat().st_mtime_ns == stamp


def test_the_modules_own_cache_is_remade_when_its_scenes_change(tmp_path, monkeypatch):
    monkeypatch.setenv("FCN_LESSON_DATA", str(tmp_path))
    root = data.make_dataset(train=2, val=1, size=32, name="cached")
    assert root == tmp_path / "cached"
    data.make_dataset(train=2, val=1, size=40, name="cached")
    assert Image.open(root.joinpath(*VOC, "JPEGImages", "train_00000.jpg")).size == (40, 40)


def test_an_interrupted_generation_is_made_again_not_refused(tmp_path):
    root = data.make_dataset(tmp_path / "scenes", train=2, val=1, size=32)
    root.joinpath(*VOC, "fcn_lesson.json").unlink()  # stopped before its stamp: the tree is half made
    assert data.make_dataset(root, train=2, val=1, size=32) == root
    assert root.joinpath(*VOC, "fcn_lesson.json").exists()


def test_two_processes_making_the_same_scenes_take_turns(tmp_path):
    code = ("from fcn_lesson import data\n"
            f"data.make_dataset({str(tmp_path / 'scenes')!r}, train=60, val=5, size=32)\n")
    makers = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True) for _ in range(2)]
    results = [maker.communicate(timeout=120) for maker in makers]
    assert [maker.returncode for maker in makers] == [0, 0], results
    images = tmp_path.joinpath("scenes", *VOC, "JPEGImages")
    assert len(list(images.glob("*.jpg"))) == 65 and not list(images.glob("*.tmp*"))


@pytest.mark.parametrize("option, value", [("train", 0), ("val", -1), ("size", 16), ("seed", -1), ("train", 2.5)])
def test_make_dataset_names_a_setting_out_of_range(tmp_path, option, value):
    with pytest.raises(ValueError, match=f"{option} must be a whole number"):
        data.make_dataset(tmp_path, **{"train": 2, "val": 1, "size": 32, option: value})
    assert not any(tmp_path.iterdir())


def test_make_dataset_never_writes_into_a_tree_it_did_not_make(tmp_path):
    voc = make_fake_voc(tmp_path / "voc")
    split = voc.joinpath(*VOC, "ImageSets", "Segmentation", "train.txt")
    before = {p: p.read_bytes() for p in voc.rglob("*") if p.is_file()}
    with pytest.raises(ValueError, match="holds a VOC tree that was not generated here.*--data voc"):
        data.make_dataset(voc, train=2, val=1, size=32)
    assert {p: p.read_bytes() for p in voc.rglob("*") if p.is_file()} == before and split.exists()
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("mine")
    with pytest.raises(ValueError, match="not empty and was not made by make-data"):
        data.make_dataset(tmp_path / "notes", train=2, val=1, size=32)
    assert [p.name for p in (tmp_path / "notes").iterdir()] == ["todo.txt"]


def test_an_empty_split_list_is_an_error_that_names_the_file(tmp_path):
    voc = make_fake_voc(tmp_path / "voc", val=())
    with pytest.raises(ValueError, match="val.txt lists no images"):
        data.voc_dataset(voc, "val")


def test_default_root_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("FCN_LESSON_DATA", str(tmp_path))
    assert data.default_root() == tmp_path / "shapes" and data.default_root("x") == tmp_path / "x"


def test_voc_dataset_pairs(scenes):
    image, label = data.voc_dataset(scenes, "val")[0]
    assert image.shape == (3, 64, 64) and image.dtype == torch.float32 and label.shape == (64, 64)
    assert label.dtype == torch.long and abs(float(image.mean())) < 3
    big_image, big_label = data.voc_dataset(scenes, "train", patch_size=80)[0]
    assert big_image.shape == (3, 80, 80) and (big_label == 255).sum() >= 80 * 80 - 64 * 64


def test_train_transforms_move_image_and_label_together(scenes):
    torch.manual_seed(0)
    raw_image, raw_label = data.voc_dataset(scenes, "train", augment=False)[0]
    for _ in range(5):
        image, label = data.voc_dataset(scenes, "train", patch_size=48)[0]
        # find the patch in the original: the label must sit under the same pixels as the image
        found = False
        for flip in (False, True):
            ref_image = raw_image.flip(-1) if flip else raw_image
            ref_label = raw_label.flip(-1) if flip else raw_label
            for top in range(17):
                for left in range(17):
                    if torch.allclose(ref_image[:, top:top + 48, left:left + 48], image):
                        assert torch.equal(ref_label[top:top + 48, left:left + 48], label)
                        found = True
        assert found


def test_a_missing_dataset_says_how_to_make_one(tmp_path):
    with pytest.raises(FileNotFoundError, match="python -m fcn_lesson make-data"):
        data.voc_dataset(tmp_path / "nowhere")


@pytest.fixture
def damaged(scenes, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(scenes, copy)
    return copy, copy.joinpath(*VOC)


def test_a_truncated_image_is_named(damaged):
    root, voc = damaged
    jpeg = voc / "JPEGImages" / "train_00000.jpg"
    jpeg.write_bytes(jpeg.read_bytes()[:200])
    with pytest.raises(ValueError, match="train_00000.jpg.*damaged; replace it"):
        data.voc_dataset(root, "train")[0]


def test_an_image_and_label_of_different_sizes_are_named(damaged):
    root, voc = damaged
    Image.new("RGB", (50, 64)).save(voc / "JPEGImages" / "train_00001.jpg")
    with pytest.raises(ValueError, match="train_00001.jpg is 50x64 but its label .*train_00001.png is 64x64"):
        data.voc_dataset(root, "train")[1]


def test_labels_outside_the_classes_are_named(damaged):
    root, voc = damaged
    label = Image.fromarray(np.full((64, 64), 9, dtype=np.uint8), mode="L")  # a grayscale label PNG
    label.save(voc / "SegmentationClass" / "train_00002.png")
    with pytest.raises(ValueError, match="train_00002.png holds label 9, but there are 7 classes"):
        data.voc_dataset(root, "train")[2]
    Image.new("RGB", (64, 64)).save(voc / "SegmentationClass" / "train_00003.png")
    with pytest.raises(ValueError, match="train_00003.png is a colour image"):
        data.voc_dataset(root, "train")[3]


def test_sbd_reads_through_torchvision(tmp_path):
    dataset = data.sbd_dataset(make_fake_sbd(tmp_path / "sbd"), "train", augment=False)
    image, label = dataset[1]
    assert len(dataset) == 2 and image.shape == (3, 20, 30) and label.shape == (20, 30)
    assert label.max() < 21


def test_downloads_fail_offline_with_a_clear_message(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(ConnectionError, match="could not download PASCAL VOC 2012.*By hand: get "
                                              "VOCtrainval_11-May-2012.tar"):
        data.voc_dataset(tmp_path, download=True)
    with pytest.raises(ConnectionError, match="could not download SBD"):
        data.sbd_dataset(tmp_path / "sbd", download=True)


def test_the_committed_sample_is_what_the_generator_makes(tmp_path):
    sample = data.default_root("sample")
    recipe = __import__("json").loads(sample.joinpath(*VOC, "fcn_lesson.json").read_text())
    fresh = data.make_dataset(tmp_path, train=recipe["train"], val=recipe["val"], size=recipe["size"],
                              seed=recipe["seed"])
    names = sample.joinpath(*VOC, "ImageSets", "Segmentation", "trainval.txt").read_text().split()
    assert len(names) == recipe["train"] + recipe["val"]
    for name in names:
        ours = np.asarray(Image.open(fresh.joinpath(*VOC, "SegmentationClass", f"{name}.png")))
        committed = np.asarray(Image.open(sample.joinpath(*VOC, "SegmentationClass", f"{name}.png")))
        assert np.array_equal(ours, committed), name


def test_to_caffe_input_is_bgr_0_to_255_minus_caffes_mean():
    pixel = torch.tensor([0.2, 0.5, 0.9]).view(3, 1, 1)  # RGB in [0, 1]
    normalised = (pixel - torch.tensor(data.IMAGENET_MEAN).view(3, 1, 1)) / torch.tensor(data.IMAGENET_STD).view(3, 1, 1)
    expected = 255 * pixel.flip(0) - torch.tensor(data.CAFFE_MEAN_BGR).view(3, 1, 1)
    torch.testing.assert_close(data.to_caffe_input(normalised[None]), expected[None])
    with pytest.raises(ValueError, match="3 x H x W"):
        data.to_caffe_input(torch.zeros(1, 4, 2, 2))


def test_a_rare_class_is_rare_in_the_training_scenes_only(tmp_path):
    root = data.make_dataset(tmp_path / "rare", train=200, val=100, size=32, seed=1, rare=1)
    shares = {}
    for split in ("train", "val"):
        counts = torch.zeros(256)
        for _, label in data.voc_dataset(root, split):
            counts += torch.bincount(label.flatten(), minlength=256)
        shares[split] = counts[1] / counts[2:7].mean()  # the disc against the other shapes
    assert shares["train"] < 0.3 * shares["val"] and shares["val"] > 0.5
    common = data.make_dataset(tmp_path / "common", train=200, val=100, size=32, seed=1)
    assert (common / "VOCdevkit/VOC2012/fcn_lesson.json").read_text() != \
        (root / "VOCdevkit/VOC2012/fcn_lesson.json").read_text()
    with pytest.raises(ValueError, match="rare must be an object class"):
        data.make_dataset(tmp_path / "bad", train=2, val=2, size=48, rare=0)


def test_class_shares_count_labelled_pixels_over_a_dataset_and_check_the_classes():
    first = torch.zeros(4, 5, dtype=torch.long)  # 17 background, 2 class 1, 1 ignored
    first[0, :2] = 1
    first[3, 4] = data.IGNORE_INDEX
    second = torch.full((2, 2), 2)  # 4 class 2
    shares = data.class_shares([(None, first), (None, second)], 4)
    torch.testing.assert_close(shares, torch.tensor([17, 2, 4, 0], dtype=torch.float64) / 23)
    with pytest.raises(ValueError, match="holds class 5, but there are 4 classes"):
        data.class_shares([(None, torch.full((2, 2), 5))], 4)


def test_a_scene_without_its_border_is_the_same_draw_with_the_exact_masks():
    image, label = data.make_scene(np.random.default_rng(3), 96)
    same, exact = data.make_scene(np.random.default_rng(3), 96, border=False)
    assert np.array_equal(image, same) and data.IGNORE_INDEX not in exact
    edge = np.zeros(exact.shape, dtype=bool)  # a 4-neighbour of another class
    down, right = exact[1:] != exact[:-1], exact[:, 1:] != exact[:, :-1]
    edge[1:] |= down
    edge[:-1] |= down
    edge[:, 1:] |= right
    edge[:, :-1] |= right
    assert edge.any() and np.array_equal(label, np.where(edge, data.IGNORE_INDEX, exact))


def test_object_images_draw_larger_radii_than_the_scenes_from_the_ranges_the_generators_read(monkeypatch):
    assert data.scene_radii(128) == (6.4, 32.0) and data.object_radii(160) == (160 / 12, 50.0)
    assert data.object_radii(160)[0] > data.scene_radii(128)[0]  # the scenes' smallest never occur
    rng = np.random.default_rng(5)
    _, label = data.make_scene(rng, 128, border=False)
    images, _ = data.object_images(4, 64, seed=2)
    monkeypatch.setattr(data, "scene_radii", lambda size: (2.0, 2.0))
    monkeypatch.setattr(data, "object_radii", lambda size: (2.0, 2.0))
    _, tiny = data.make_scene(np.random.default_rng(5), 128, border=False)
    assert 0 < np.count_nonzero(tiny) < 4 * 40 < np.count_nonzero(label)
    assert not torch.equal(data.object_images(4, 64, seed=2)[0], images)


def test_exact_masks_redraw_the_stored_labels_of_each_split_without_their_band(tmp_path):
    root = data.make_dataset(tmp_path / "rare", train=5, val=3, size=48, seed=2, rare=1)
    voc = root.joinpath(*VOC)
    masks = {split: data.exact_masks(root, split) for split in ("train", "val", "trainval")}
    assert [len(masks[split]) for split in masks] == [5, 3, 8]
    assert all(np.array_equal(a, b) for a, b in zip(masks["trainval"], masks["train"] + masks["val"]))
    for split in ("train", "val"):  # the rare class is redrawn in the training scenes only
        names = (voc / "ImageSets" / "Segmentation" / f"{split}.txt").read_text().split()
        for name, exact in zip(names, masks[split], strict=True):
            stored = np.asarray(Image.open(voc / "SegmentationClass" / f"{name}.png"))
            band = stored == data.IGNORE_INDEX
            assert data.IGNORE_INDEX not in exact and band.any()
            assert np.array_equal(stored[~band], exact[~band])  # the same scene off the band
            assert np.array_equal(band, data._border(exact))  # and the band is its edge
    with pytest.raises(ValueError, match="split must be"):
        data.exact_masks(root, "test")
    with pytest.raises(FileNotFoundError, match="no scenes made by make_dataset"):
        data.exact_masks(tmp_path / "nothing")


def test_bar_widths_measures_a_rectangle_drawn_and_scored():
    is_bar = np.zeros((80, 80), dtype=bool)
    is_bar[10:70, 20:25] = True  # 60 px long, 5 wide
    scored = np.zeros_like(is_bar)
    scored[10:70, 21:24] = True  # one pixel of band off each side
    is_bar[75:77, 0:3] = True  # a speck under min_pixels: not measured
    [(drawn, kept)] = data.bar_widths(is_bar, scored)
    assert abs(drawn - 5) < 0.01 and abs(kept - 3) < 0.01
    turned = data.bar_widths(is_bar.T, scored.T)  # the direction does not matter
    assert np.allclose(turned, [(drawn, kept)])


def test_object_pixels_leave_out_background_and_the_ignore_label_on_tensors_and_arrays():
    label = torch.tensor([[0, 1, 255], [6, 0, 3]])
    expected = [[False, True, False], [True, False, True]]
    assert data.object_pixels(label).tolist() == expected
    assert data.object_pixels(label.numpy()).tolist() == expected
    assert data.object_pixels(label, ignore_index=6).tolist() == [[False, True, True], [False, False, True]]
