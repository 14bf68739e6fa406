import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from fcn_lesson import data, stats, viz  # noqa: E402


def test_colorize_uses_the_voc_palette():
    label = torch.tensor([[0, 1], [2, 255]])
    colours = viz.colorize(label)
    assert colours.shape == (2, 2, 3) and colours.dtype == np.uint8
    assert colours[0, 0].tolist() == [0, 0, 0] and colours[0, 1].tolist() == [128, 0, 0]
    assert colours[1, 0].tolist() == [0, 128, 0] and colours[1, 1].tolist() == [224, 224, 192]
    with pytest.raises(ValueError, match="one H x W label map"):
        viz.colorize(torch.zeros(2, 3, 4))


def test_denormalize_inverts_the_dataset_normalisation(scenes):
    voc = data.voc_dataset(scenes, "val")
    image, label = voc[0]
    picture = viz.denormalize(image)
    raw = np.asarray(voc.source[0][0], dtype=np.float32) / 255
    assert picture.shape == raw.shape and np.abs(picture - raw).max() < 1e-5
    with pytest.raises(ValueError, match="3 x H x W"):
        viz.denormalize(torch.zeros(1, 3, 4, 4))
    blended = viz.overlay(image, label)
    background = (label == 0).numpy()
    assert np.allclose(blended[background], picture[background])
    shape = (label == label[label < 255].max()).numpy()
    assert not np.allclose(blended[shape], picture[shape])


def test_figures_are_built(scenes):
    images, labels = zip(*[data.voc_dataset(scenes, "val")[i] for i in range(2)])
    fig = viz.show_pairs(images, labels, predictions=labels)
    assert len(fig.axes) == 6 and fig.axes[2].get_title() == "prediction"
    ax = viz.show_kernel(torch.eye(3), title="k")
    assert ax.get_title() == "k" and len(ax.texts) == 9
    fig = viz.plot_history({"a": [{"epoch": 1, "loss": 1.0, "val_mean_iu": 0.1},
                                  {"epoch": 2, "loss": 0.5, "val_mean_iu": 0.2}]})
    assert [ax.get_xlabel() for ax in fig.axes] == ["epoch", "epoch"]
    assert fig.axes[1].get_ylabel() == "validation mean iu"


def test_continued_counts_the_epochs_on():
    first, second = [{"epoch": 1, "loss": 2.0}, {"epoch": 2, "loss": 1.0}], [{"epoch": 1, "loss": 0.5}]
    assert viz.continued(first, second) == first + [{"epoch": 3, "loss": 0.5}]
    assert viz.continued() == []


def test_table_formats_floats_and_keeps_the_rest():
    text = viz.table(["model", "mean IU"], [["FCN-8s", 0.61234], ["FCN-32s", "n/a"]]).data
    assert text.splitlines() == ["| model | mean IU |", "| --- | --- |", "| FCN-8s | 0.612 |", "| FCN-32s | n/a |"]


def test_plot_by_thickness_draws_one_line_per_model():
    rows = [{"bin": "1-7", "iu": 0.2, "boundary_accuracy": 0.5},
            {"bin": ">= 8", "iu": 0.9, "boundary_accuracy": 0.8}]
    fig = viz.plot_by_thickness({"a": rows, "b": rows})
    assert len(fig.axes) == 2 and len(fig.axes[0].lines) == 2
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["1-7", ">= 8"]
    assert not fig.axes[0].collections  # no interval given, no band drawn
    banded = [{**row, "iu_low": row["iu"] - 0.1, "iu_high": row["iu"] + 0.1} for row in rows]
    fig = viz.plot_by_thickness({"a": banded}, keys=("iu",))
    assert len(fig.axes[0].collections) == 1  # the interval, as a band around the line


def test_verdict_table_says_each_verdict_and_whether_other_scenes_agree():
    ahead = stats.Verdict("FCN-8s", "FCN-16s", 0.047, 0.017, 0.075, 3, 300, True, "mean IU")
    apart = stats.Verdict("FCN-8s", "FCN-16s", 0.028, -0.009, 0.061, 3, 300, True, "IU bar")
    lines = viz.verdict_table([ahead, apart], [ahead, ahead]).data.splitlines()
    assert lines[2] == "| FCN-8s - FCN-16s, mean IU | +0.047 | +0.017 to +0.075 | FCN-8s ahead | 3 | same |"
    assert lines[3].endswith("| not told apart | 3 | FCN-8s ahead: undecided |")
    assert "fresh" not in viz.verdict_table([ahead]).data


def test_draw_fcn_labels_the_derived_crops_and_every_layer():
    from fcn_lesson.models import FCN8s, FCN32s
    ax = viz.draw_fcn(FCN8s(21, backbone="vgg16"))
    texts = [t.get_text() for t in ax.texts]
    assert "+\ncrop 5" in texts and "+\ncrop 9" in texts and "crop 31" in texts
    assert "block5\n512 ch\n/32" in texts and "fc6 7x7\nfc7 1x1\n4096 ch" in texts
    assert sum(t.startswith("score_pool") for t in texts) == 2
    assert "crop 19" in [t.get_text() for t in viz.draw_fcn(FCN32s(21, backbone="vgg16")).texts]


def test_draw_ruler_places_the_crops_where_geometry_derives_them():
    from dataclasses import replace

    from fcn_lesson.models import FCN8s, FCN32s, VGG16
    thin = replace(VGG16, widths=(1,) * 5, fc_width=1)
    for model, crop, cells in ((FCN32s(21, backbone=thin), 19, 4), (FCN8s(21, backbone=thin), 31, 22)):
        ax = viz.draw_ruler(model, 100)
        texts = [t.get_text() for t in ax.texts]
        assert f"crop {crop}" in texts and "padding 100" in texts and "image, 100 px" in texts
        assert any(t.startswith(f"map read by the last upsampler") and f": {cells} pixels" in t for t in texts)
        assert "pool5: 10 cells, x = 32·i - 83.5" in texts
    model = FCN32s(21, backbone=thin)
    model.crops = (18,)
    with pytest.raises(AssertionError, match="image pixel 0"):
        viz.draw_ruler(model, 100)


def test_compare_outlines_draws_each_prediction_with_the_true_outline(scenes):
    image, label = data.voc_dataset(scenes, "val")[0]
    fig = viz.compare_outlines(image, label, {"right": label, "shifted": label.roll(3, 1)})
    assert [ax.get_title() for ax in fig.axes] == ["image", "right", "shifted"]
    assert all(ax.collections for ax in fig.axes[1:])  # the outline's contour lines
