import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from fcn_lesson import data, viz  # noqa: E402


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
