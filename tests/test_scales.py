"""Local thickness and the scores by thickness, on label maps whose answers are known by hand."""
import pytest
import torch

from fcn_lesson import scales


def _scene():
    labels = torch.zeros(1, 40, 40, dtype=torch.long)
    labels[0, 2:5, 2:30] = 5         # a bar 3 px thick
    labels[0, 10:30, 10:30] = 2      # a 20 x 20 square
    labels[0, 10:30, 30:35] = 4      # a 5 px strip of another class touching it
    return labels


def test_depth_counts_the_steps_to_another_label_or_the_edge():
    labels = torch.zeros(1, 9, 9, dtype=torch.long)
    labels[0, 2:7, 2:7] = 1
    deep = scales.depth(labels)[0]
    assert deep[4, 4] == 3 and deep[3, 3] == 2 and deep[2, 2] == 1 and deep[0, 0] == 0
    edge = torch.ones(1, 4, 4, dtype=torch.long)  # the image's edge bounds an object too
    assert scales.depth(edge)[0].tolist() == [[1, 1, 1, 1], [1, 2, 2, 1], [1, 2, 2, 1], [1, 1, 1, 1]]


def test_local_thickness_is_the_largest_square_inside_the_object():
    thickness = scales.local_thickness(_scene())[0]
    assert (thickness[2:5, 2:30] == 3).all()
    assert thickness[20, 20] == 19  # an even side: the largest centred square is 19 x 19
    assert (thickness[10:30, 30:35] == 5).all()  # another label is another object
    assert (thickness[_scene()[0] == 0] == 0).all()
    ignored = _scene()
    ignored[0, 9, 10:30] = 255
    assert scales.local_thickness(ignored)[0, 9, 15] == 0


def test_scores_by_thickness_put_each_error_in_its_bin():
    labels = _scene()
    bins = (1, 4, 8, 100)
    perfect, missing_bar = labels.clone(), labels.clone()
    missing_bar[labels == 5] = 0
    bleeding = labels.clone()
    bleeding[0, 5:8, 2:30] = 5  # the bar's class spread over 3 rows of background below it
    tables = scales.by_thickness({"perfect": perfect, "missing": missing_bar, "bleeding": bleeding},
                                 labels, 7, bins=bins, reach=4, band=1)
    assert [row["iu"] for row in tables["perfect"]] == [1.0, 1.0, 1.0]
    assert [row["bin"] for row in tables["perfect"]] == ["1-3", "4-7", ">= 8"]
    assert [row["pixels"] for row in tables["perfect"]] == [3 * 28, 5 * 20, 20 * 20]
    assert tables["missing"][0]["iu"] == 0.0 and tables["missing"][1]["iu"] == 1.0
    assert tables["bleeding"][0]["iu"] == pytest.approx(84 / (84 + 3 * 28))
    assert tables["bleeding"][2]["iu"] == 1.0
    assert tables["missing"][0]["boundary_accuracy"] < 1.0 == tables["missing"][2]["boundary_accuracy"]


def test_thickness_counts_add_over_scenes_to_the_scores_of_all_of_them():
    labels = torch.cat([_scene(), _scene().flip(-1)])
    predicted = labels.clone()
    predicted[0][labels[0] == 5] = 0  # the first scene misses its bar, the second is perfect
    bins = (1, 4, 8, 100)
    counts = scales.thickness_counts({"model": predicted}, labels, 7, bins=bins)["model"]
    assert counts.shape == (2, len(bins) - 1, len(scales.COUNTS))
    whole = scales.by_thickness({"model": predicted}, labels, 7, bins=bins)["model"]
    assert scales.binned_scores(counts, bins) == whole
    assert scales.binned_scores(counts[1], bins)[0]["iu"] == 1.0 > scales.binned_scores(counts[0], bins)[0]["iu"]
    assert whole[0]["pixels"] == 2 * 3 * 28


def test_scores_by_thickness_refuse_mismatched_shapes():
    with pytest.raises(ValueError, match="differ in shape"):
        scales.by_thickness({"x": torch.zeros(1, 8, 8, dtype=torch.long)}, torch.zeros(1, 9, 9, dtype=torch.long), 7)
    with pytest.raises(ValueError, match="N x H x W"):
        scales.local_thickness(torch.zeros(8, 8))


def test_bin_iu_takes_stacks_of_summed_counts():
    counts = torch.tensor([[[3, 4, 2, 0, 0], [0, 0, 0, 0, 0]], [[1, 1, 0, 0, 0], [2, 4, 0, 0, 0]]],
                          dtype=torch.float64)
    iu = scales.bin_iu(counts)
    assert iu[0, 0].item() == pytest.approx(3 / 6) and torch.isnan(iu[0, 1])
    assert iu[1].tolist() == [1.0, 0.5]


def test_local_thickness_takes_odd_sides_only_so_the_stride_bins_start_at_9_17_and_33():
    labels = torch.zeros(1, 48, 48, dtype=torch.long)
    labels[0, 2:10, 2:10] = 2     # an 8 x 8 square: its largest centred square is 7 x 7
    labels[0, 12:44, 12:44] = 1   # 32 x 32: 31
    thickness = scales.local_thickness(labels)[0]
    sides = thickness[thickness > 0].unique()
    assert (sides % 2 == 1).all()
    assert thickness[5, 5] == 7 and thickness[28, 28] == 31
    assert not ((sides == 8) | (sides == 16) | (sides == 32)).any()  # the bins' lower edges
