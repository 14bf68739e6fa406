import math

import pytest
import torch

from fcn_lesson import metrics
from fcn_lesson.metrics import confusion_matrix, scores


def test_all_background_puts_every_labelled_pixel_of_each_class_in_column_zero():
    labels = torch.tensor([[[0, 1], [2, 255]], [[1, 1], [0, 2]]])
    confusion = metrics.all_background(labels, 3)
    assert confusion.tolist() == [[2, 0, 0], [3, 0, 0], [2, 0, 0]]
    assert torch.equal(metrics.all_background(list(labels), 3), confusion)  # maps of any sizes
    assert metrics.mean_iu(confusion).item() == pytest.approx(2 / 7 / 3)  # background IU 2/7


def test_confusion_matrix_counts_by_hand():
    target = torch.tensor([[0, 0, 1], [1, 2, 255]])
    pred = torch.tensor([[0, 1, 1], [1, 0, 2]])
    hist = confusion_matrix(pred, target, 3)
    # rows: true class, columns: predicted; the 255 pixel is not counted
    assert hist.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]


def test_per_image_confusion_matrices_add_up_to_the_whole():
    target = torch.tensor([[[0, 0], [1, 255]], [[2, 2], [1, 0]]])
    pred = torch.tensor([[[0, 1], [1, 2]], [[2, 0], [1, 0]]])
    each = confusion_matrix(pred, target, 3, per_image=True)
    assert each.shape == (2, 3, 3)
    assert each[0].tolist() == [[1, 1, 0], [0, 1, 0], [0, 0, 0]]
    assert each[1].tolist() == [[1, 0, 0], [0, 1, 0], [1, 0, 1]]
    assert torch.equal(each.sum(0), confusion_matrix(pred, target, 3))
    with pytest.raises(ValueError, match="per_image counts N x H x W"):
        confusion_matrix(pred[0], target[0], 3, per_image=True)


def test_scores_by_hand():
    hist = torch.tensor([[1, 1, 0], [0, 2, 0], [1, 0, 0]])
    s = scores(hist)
    assert s["pixel_accuracy"] == pytest.approx(3 / 5)
    assert s["mean_accuracy"] == pytest.approx((1 / 2 + 2 / 2 + 0 / 1) / 3)
    # IU: class 0: 1 / (2 + 2 - 1); class 1: 2 / (2 + 3 - 2); class 2: 0 / (1 + 0 - 0)
    assert s["class_iu"] == pytest.approx([1 / 3, 2 / 3, 0.0])
    assert s["mean_iu"] == pytest.approx((1 / 3 + 2 / 3 + 0) / 3)
    assert s["fw_iu"] == pytest.approx((2 * 1 / 3 + 2 * 2 / 3 + 1 * 0) / 5)


def test_absent_classes_do_not_count():
    hist = torch.tensor([[3, 0, 0], [0, 1, 0], [0, 0, 0]])  # class 2 neither true nor predicted
    s = scores(hist)
    assert math.isnan(s["class_iu"][2])
    assert s["mean_iu"] == 1.0 and s["mean_accuracy"] == 1.0 and s["fw_iu"] == 1.0
    predicted_only = scores(torch.tensor([[3, 0, 1], [0, 1, 0], [0, 0, 0]]))
    assert predicted_only["class_iu"][2] == 0.0  # a false class counts, as a zero
    assert predicted_only["mean_accuracy"] == pytest.approx((3 / 4 + 1) / 2)


def test_pixel_accuracy_hides_what_mean_iu_shows():
    target = torch.zeros(100, dtype=torch.long)
    target[:5] = 1
    all_background = torch.zeros(100, dtype=torch.long)
    s = scores(confusion_matrix(all_background, target, 2))
    assert s["pixel_accuracy"] == 0.95 and s["mean_iu"] == pytest.approx(0.475)


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="differ in shape"):
        confusion_matrix(torch.zeros(2, 3, 4, 4), torch.zeros(2, 4, 4, dtype=torch.long), 3)
    with pytest.raises(ValueError, match="integer class indices"):
        confusion_matrix(torch.zeros(4, 4), torch.zeros(4, 4, dtype=torch.long), 3)
    with pytest.raises(ValueError, match="target holds class 7, outside 0..2"):
        confusion_matrix(torch.zeros(3, dtype=torch.long), torch.tensor([0, 7, 255]), 3)
    with pytest.raises(ValueError, match="prediction holds class -1"):
        confusion_matrix(torch.tensor([0, -1]), torch.tensor([0, 1]), 3)
    with pytest.raises(ValueError, match="empty"):
        scores(torch.zeros(3, 3))


def test_boundary_mask_marks_both_sides_of_an_outline():
    target = torch.zeros(9, 9, dtype=torch.long)
    target[3:6, 3:6] = 1
    band = metrics.boundary_mask(target, 0)
    assert band.sum() == 8 + 12  # the square's outer ring touches background, and 12 background pixels touch it
    assert not band[4, 4] and band[3, 4] and band[2, 4] and not band[1, 4] and not band[2, 2]  # no diagonal touch
    assert metrics.boundary_mask(target, 1)[1, 4] and not metrics.boundary_mask(target, 1)[0, 4]
    assert metrics.boundary_mask(target, 9).all()
    assert not metrics.boundary_mask(torch.zeros(4, 4, dtype=torch.long), 2).any()  # no outline, no band


def test_boundary_mask_leaves_ignored_pixels_out_and_takes_batches():
    target = torch.zeros(2, 6, 6, dtype=torch.long)
    target[0, :, 3:] = 255
    band = metrics.boundary_mask(target, 1)
    assert band.shape == (2, 6, 6) and not band[0][target[0] == 255].any() and band[0, :, 2].all()
    assert not band[1].any()
    with pytest.raises(ValueError, match="width must be >= 0"):
        metrics.boundary_mask(target, -1)
    with pytest.raises(ValueError, match="integer label maps"):
        metrics.boundary_mask(target.float(), 1)


def test_stacked_scores_equal_the_scores_of_each_matrix():
    stack = torch.tensor([[[1, 1, 0], [0, 2, 0], [1, 0, 0]], [[3, 0, 0], [1, 1, 0], [0, 0, 0]]])
    for one, iu, mean, accuracy in zip(stack, metrics.class_iu(stack.double()), metrics.mean_iu(stack.double()),
                                       metrics.pixel_accuracy(stack.double())):
        expected = scores(one)
        assert iu.tolist()[:2] == pytest.approx(expected["class_iu"][:2])
        assert mean.item() == pytest.approx(expected["mean_iu"])
        assert accuracy.item() == pytest.approx(expected["pixel_accuracy"])
    assert math.isnan(metrics.class_iu(stack.double())[1, 2])  # class 2 appears nowhere in the second


def test_mistakes_zero_the_diagonal_and_ranked_mistakes_lists_the_wrong_answers_most_frequent_first():
    confusion = torch.tensor([[9, 2, 0], [5, 7, 2], [0, 1, 4]])
    assert metrics.mistakes(confusion).tolist() == [[0, 2, 0], [5, 0, 2], [0, 1, 0]]
    assert metrics.ranked_mistakes(confusion) == [(1, 0, 5), (0, 1, 2), (1, 2, 2), (2, 1, 1)]
    assert metrics.ranked_mistakes(torch.eye(3, dtype=torch.long)) == []
    with pytest.raises(ValueError, match="square C x C"):
        metrics.mistakes(torch.zeros(2, 3))



def test_prediction_changes_counts_by_hand():
    target = torch.tensor([[0, 1, 1], [2, 0, 255]])
    before = torch.tensor([[0, 1, 1], [2, 2, 0]])
    after = torch.tensor([[0, 1, 0], [1, 2, 2]])
    changed = metrics.prediction_changes(before, after, target, 3)
    assert changed["object pixels: share in the labels"] == pytest.approx(3 / 5)
    assert changed["object pixels: share before"] == pytest.approx(4 / 6)
    assert changed["unchanged: all pixels"] == pytest.approx(3 / 6)
    assert changed["unchanged: the object pixels before"] == pytest.approx(2 / 4)
    assert changed["object -> background (pixels)"] == 1
    assert changed["background -> object (pixels)"] == 1
    assert changed["object -> another object (pixels)"] == 1
    assert changed["mean IU before"] == pytest.approx(metrics.mean_iu(confusion_matrix(before, target, 3)).item())
    assert changed["mean IU after"] == pytest.approx(metrics.mean_iu(confusion_matrix(after, target, 3)).item())
    with pytest.raises(ValueError, match="one shape"):
        metrics.prediction_changes(before, after[:1], target, 3)


def test_class_precision_is_the_share_of_each_predicted_class_on_its_own_class():
    target = torch.tensor([[0, 1, 1], [2, 0, 255]])
    pred = torch.tensor([[1, 1, 0], [1, 0, 1]])  # class 1 drawn on 0, 1 and 2; class 2 never
    precision = metrics.class_precision(confusion_matrix(pred, target, 3))
    assert precision[0].item() == pytest.approx(1 / 2) and precision[1].item() == pytest.approx(1 / 3)
    assert torch.isnan(precision[2])  # never predicted (the pixel labelled 255 is not counted)
    stacked = metrics.class_precision(confusion_matrix(pred[None], target[None], 3, per_image=True))
    assert stacked.shape == (1, 3) and torch.allclose(stacked[0, :2], precision[:2])


def test_object_components_and_found_objects_split_the_mistakes_by_object():
    target = torch.zeros(2, 6, 6, dtype=torch.long)
    target[0, 0:2, 0:2] = 1  # object A, class 1
    target[0, 4:6, 4:6] = 1  # object B, class 1, not touching A
    target[0, 0:2, 4:6] = 2  # object C, class 2
    target[1, 0:2, 0:2] = 1  # object D, in another map: its own id
    target[0, 3, 0] = 255
    ids = metrics.object_components(target)
    assert ids.unique().tolist() == [0, 1, 2, 3, 4]
    assert ids[0, 0, 0] != ids[0, 5, 5] and ids[0, 0, 0] != ids[1, 0, 0] and ids[0, 3, 0] == 0
    predicted = torch.zeros_like(target)
    predicted[0, 0, 0] = 1  # A found by one pixel
    predicted[0, 4:6, 4:6] = 2  # B misnamed
    predicted[0, 3, 3] = 1  # a spurious pixel, 2 px from B's outline
    found = metrics.found_objects(predicted, target)
    assert found[0, 0:2, 0:2].all() and not found[0, 4:6, 4:6].any() and not found[1].any()
    assert metrics.objects_found(predicted, target) == (1, 4)
    kinds = metrics.mistake_kinds(predicted, target, width=1)
    counts = {name: int(mask.sum()) for name, mask in kinds.items()}
    assert counts == {"missed": 4 + 4, "misnamed": 4, "found, band": 3, "found, inside": 0,
                      "background, band": 1, "background, far": 0}
    wrong = (predicted != target) & (target != 255)
    assert torch.equal(torch.stack(list(kinds.values())).sum(0), wrong.long())
    thick = metrics.component_max(torch.arange(72).view(2, 6, 6), ids)
    assert thick[0, 0, 0] == 7 and thick[0, 5, 5] == 35 and thick[0, 2, 2] == 0
