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
    assert fig.axes[1].get_ylabel() == "validation mean IU"
    fig.canvas.draw()
    ticks = [tick for tick in fig.axes[0].get_xticks() if 1 <= tick <= 2]
    assert ticks and all(float(tick).is_integer() for tick in ticks)  # whole epochs only


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


def test_plot_differences_draws_each_paired_interval_beside_the_others_over_zero():
    from fcn_lesson.stats import Verdict
    ahead, apart = (Verdict("a", "b", d, low, high, 3, 300, True) for d, low, high in ((0.2, 0.1, 0.3),
                                                                                       (0.0, -0.1, 0.1)))
    fig = viz.plot_differences({"a - b": [ahead, apart], "a - c": [apart, ahead]}, ["1-7", ">= 8"],
                               xlabel="bin")
    ax = fig.axes[0]
    assert [bars.get_label() for bars in ax.containers] == ["a - b", "a - c"]
    markers = [bars.lines[0] for bars in ax.containers]
    assert all(line.get_linestyle() == "None" for line in markers)  # no line between bins
    first, second = (line.get_xdata() for line in markers)
    assert (first < second).all() and (second - first < 0.5).all()  # side by side at each tick
    low, high = ax.containers[0].lines[2][0].get_segments()[0]
    assert low[1] == pytest.approx(0.1) and high[1] == pytest.approx(0.3)  # the interval, as a bar
    assert any(list(line.get_ydata()) == [0, 0] for line in ax.lines)  # the zero line
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1-7", ">= 8"]
    below = viz.plot_differences({"a - b": [ahead, apart]}, ["1-7", ">= 8"], xlabel="bin", key_below=True)
    key = below.axes[0].get_legend()
    assert key.get_bbox_to_anchor().y0 < below.axes[0].get_window_extent().y0  # under the axes
    matplotlib.pyplot.close(below)


def test_verdict_table_says_each_verdict_and_whether_other_scenes_agree():
    ahead = stats.Verdict("FCN-8s", "FCN-16s", 0.047, 0.017, 0.075, 3, 300, True, "mean IU")
    apart = stats.Verdict("FCN-8s", "FCN-16s", 0.028, -0.009, 0.061, 3, 300, True, "IU bar")
    lines = viz.verdict_table([ahead, apart], [ahead, ahead]).data.splitlines()
    assert lines[2] == "| FCN-8s - FCN-16s, mean IU | +0.047 | +0.017 to +0.075 | FCN-8s ahead | 3 | same |"
    assert lines[3].endswith("| not told apart | 3 | FCN-8s ahead: undecided |")
    assert "fresh" not in viz.verdict_table([ahead]).data
    one_run = stats.Verdict("U-Net", "FCN-8s", 0.176, 0.148, 0.206, 1, 300, True, "mean IU")
    assert "| U-Net ahead (one run) | 1 |" in viz.verdict_table([one_run]).data


def test_levelling_table_says_what_each_gains_interval_says_and_whether_other_scenes_agree():
    from fcn_lesson.evidence import Levelling
    gain = stats.Verdict("FCN-8s, 30 epochs", "20 epochs", 0.012, -0.004, 0.028, 1, 300, True, "mean IU")
    flat, close = Levelling("FCN-8s", 20, 30, gain, 0.04, 0.05), Levelling("U-Net", 20, 30, gain, 0.04, 0.01)
    steep = stats.Verdict("FCN-8s, 30 epochs", "20 epochs", 0.05, 0.03, 0.07, 1, 300, True, "mean IU")
    narrow = stats.Verdict("U-Net, 30 epochs", "20 epochs", 0.012, 0.001, 0.045, 1, 300, True, "mean IU")
    rising, holding = Levelling("FCN-8s", 20, 30, steep, 0.01, 0.05), Levelling("U-Net", 20, 30, narrow, 0.04, 0.01)
    lines = viz.levelling_table([flat, holding], [rising, close]).data.splitlines()
    assert lines[0].startswith("| row | epochs | gain in mean IU | 95% interval (scenes) | interval against 0.040 |")
    assert lines[2] == "| FCN-8s | 20 -> 30 | +0.012 | -0.004 to +0.028 | levelled | still rising |"
    assert lines[3].endswith("| too close to call | levelled |")
    assert "fresh" not in viz.levelling_table([flat]).data
    apart = viz.levelling_table([flat, rising]).data.splitlines()  # two yardsticks: a column each
    assert "| yardstick |" in apart[0] and apart[3].endswith("| 0.010 | still rising |")


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
        read = "score_fr" if crop == 19 else "fused,\nstride 8"
        assert [t.get_text() for t in ax.get_yticklabels()] == ["input", "pool5", read, "output"]
        pool5 = ax.lines[0].get_xdata()  # every pool5 cell lies inside the axes, none clipped
        assert ax.get_xlim()[0] < min(pool5) - 4 and max(pool5) + 4 < ax.get_xlim()[1]
    model = FCN32s(21, backbone=thin)
    model.crops = (18,)
    with pytest.raises(AssertionError, match="image pixel 0"):
        viz.draw_ruler(model, 100)


def test_compare_outlines_draws_each_prediction_with_the_true_outline(scenes):
    image, label = data.voc_dataset(scenes, "val")[0]
    fig = viz.compare_outlines(image, label, {"right": label, "shifted": label.roll(3, 1)})
    assert [ax.get_title() for ax in fig.axes] == ["image", "right", "shifted"]
    assert all(ax.collections for ax in fig.axes[1:])  # the outline's contour lines


def test_plot_confusion_writes_each_count_in_a_colour_that_reads_on_its_cell():
    confusion = torch.tensor([[50, 2], [0, 9]])
    fig = viz.plot_confusion({"first": confusion, "second": confusion.T}, ["x", "y"])
    assert [ax.get_title() for ax in fig.axes] == ["first", "second"]
    colours = {t.get_text(): t.get_color() for t in fig.axes[0].texts}
    assert colours == {"50": "white", "2": "black", "0": "black", "9": "black"}
    assert [t.get_text() for t in fig.axes[1].texts] == ["50", "0", "2", "9"]


def test_window_with_finds_a_close_up_of_exactly_the_classes_asked_for_and_captions_it():
    label = np.zeros((40, 40), dtype=np.uint8)
    label[4:14, 4:14] = 1
    label[24:36, 20:36] = 2
    label[3, 4:14] = 255
    top, left = viz.window_with(label, (0, 2), size=16)
    window = label[top:top + 16, left:left + 16]
    assert set(np.unique(window).tolist()) == {0, 2}
    assert viz.window_with(label, (0, 1), size=8) is not None
    with pytest.raises(ValueError, match="no 16 x 16 window holds exactly the classes \\[1, 2\\]"):
        viz.window_with(label, (1, 2), size=16)
    image = np.zeros((40, 40, 3), dtype=np.uint8)
    fig = viz.show_windows(image, label, [(top, left), (0, 0)], size=16)
    captions = [ax.get_ylabel() for ax in fig.axes[:4:2]]
    assert captions[0].splitlines()[0].startswith("background") and "square" in captions[0]
    assert [ax.get_title() for ax in fig.axes[:2]] == ["image, 16 x 16 px", "label"]


def test_show_kernel_writes_values_that_read_on_their_cells_and_ticks_whole_pixels():
    ax = viz.show_kernel(torch.tensor([[0.0, 1.0], [1.0, 0.0]]))
    assert [t.get_color() for t in ax.texts] == ["white", "black", "black", "white"]
    ax.figure.canvas.draw()
    assert all(float(tick).is_integer() for tick in ax.get_xticks())
    assert all(float(tick).is_integer() for tick in ax.get_yticks())


def test_plot_iteration_times_draws_the_fastest_runs_with_their_spread_and_guides_anchored_at_the_largest():
    times = {(10, 20): [1.0, 1.2, 3.0], (20, 40): [2.5, 2.0, 2.2]}
    ax = viz.plot_iteration_times(times, padding=5, constant=0.3, constant_label="step")
    assert ax.get_ylim()[0] == 0 and ax.get_xlim()[0] == 0
    lines = {line.get_label(): line for line in ax.get_lines()}
    measured = ax.containers[0]  # the error bars
    assert measured.get_label().startswith("measured: fastest, bar up to the slowest of 3")
    assert list(measured.lines[0].get_ydata()) == [1.0, 2.0]  # fastest, smallest image first
    pixels = next(line for label, line in lines.items() if label.endswith("image's pixels"))
    padded = next(line for label, line in lines.items() if "padding (5 a side)" in label)
    assert list(pixels.get_ydata()) == pytest.approx([2.0 * 200 / 800, 2.0])
    assert list(padded.get_ydata()) == pytest.approx([2.0 * 20 * 30 / (30 * 50), 2.0])
    assert list(lines["step"].get_ydata()) == [0.3, 0.3]
    assert "anchored at the largest image's fastest" in ax.get_legend().get_title().get_text()


def test_show_windows_draws_the_whole_scene_with_its_windows_and_the_exact_edges():
    exact = np.zeros((40, 40), dtype=np.uint8)
    exact[10:20, 10:30] = 1
    label = exact.copy()
    label[9:11, 10:30] = 255  # a band across the top edge is enough for the drawing
    image = np.zeros((40, 40, 3), dtype=np.uint8)
    fig = viz.show_windows(image, label, [(8, 8)], size=16, exact=exact, whole=True)
    whole_image, whole_label, close_image, close_label = fig.axes[:4]
    assert [len(ax.patches) for ax in (whole_image, whole_label)] == [1, 1]
    assert [ax.get_title() for ax in fig.axes[:4]] == [
        "image, 40 x 40 px", "label", "window 1, 16 x 16 px", "label, exact edge black"]
    # window rows and columns 8..23: the top and bottom edges (14 pixel sides each, columns 10..23)
    # and the left edge (10 sides, rows 10..19); the right edge, at column 30, lies outside
    assert len(close_label.collections[0].get_segments()) == 14 + 14 + 10
    assert not close_image.collections


def test_class_colors_and_table_digits():
    colours = viz.class_colors([0, 1, 255])
    assert colours.shape == (3, 3)
    assert np.allclose(colours * 255, np.asarray(data.PALETTE).reshape(256, 3)[[0, 1, 255]])
    assert "| 0.12 |" in viz.table(["x"], [[0.12345]], digits=2).data
    assert "| 0.123 |" in viz.table(["x"], [[0.12345]]).data


def test_show_kernel_can_share_a_colour_scale():
    ax = viz.show_kernel(torch.tensor([[0.0, 0.5], [0.5, 0.0]]), vmin=-1.0, vmax=1.0)
    assert ax.images[0].get_clim() == (-1.0, 1.0)
    assert viz.show_kernel(torch.tensor([[0.0, 0.5]])).images[0].get_clim() == (0.0, 0.5)


def test_plot_profiles_draws_a_name_alike_in_every_panel():
    panels = {"a": {"x": torch.ones(5)}, "b": {"x": torch.zeros(5), "y": torch.arange(5.0)}}
    fig = viz.plot_profiles(panels, "column", "weight")
    (first,), (second_x, second_y) = fig.axes[0].lines, fig.axes[1].lines
    assert (first.get_color(), first.get_linestyle()) == (second_x.get_color(), second_x.get_linestyle())
    assert second_y.get_color() != second_x.get_color()
    assert [ax.get_title() for ax in fig.axes] == ["a", "b"] and fig.axes[0].get_ylabel() == "weight"
    assert fig.axes[1].get_legend() is not None and fig.axes[0].get_legend() is None



def test_show_windows_outlines_the_window_numbers_so_they_read_on_bright_regions():
    label = np.zeros((40, 40), dtype=np.uint8)
    image = np.full((40, 40, 3), 255, dtype=np.uint8)  # all white: a white number alone would vanish
    fig = viz.show_windows(image, label, [(8, 8)], size=16, whole=True)
    numbers = [text for text in fig.axes[0].texts if text.get_text() == "1"]
    assert len(numbers) == 1 and numbers[0].get_path_effects()
    matplotlib.pyplot.close(fig)


def test_show_maps_shares_one_scale_and_gives_the_difference_its_own():
    maps = {"a": torch.zeros(4, 4), "b": torch.full((4, 4), 2.0)}
    fig = viz.show_maps(maps, label="output", ranges=True, difference=torch.ones(4, 4))
    panels = [ax for ax in fig.axes if ax.images]
    assert [image.get_clim() for ax in panels[:2] for image in ax.images] == [(0.0, 2.0)] * 2
    assert panels[2].images[0].get_clim()[0] == 0 and panels[2].get_title() == "|difference|"
    assert panels[1].get_title() == "b:\nvalues 2.00 to 2.00"
    assert len(fig.axes) == 5  # three panels, two colour bars
    matplotlib.pyplot.close(fig)


def test_draw_fcn_puts_each_sum_under_the_block_whose_skip_it_adds():
    from fcn_lesson.models import FCN8s, FCN16s
    for model, crops in ((FCN8s(21, backbone="vgg16"), (5, 9)), (FCN16s(21, backbone="vgg16"), (5,))):
        ax = viz.draw_fcn(model)
        where = {t.get_text(): t.get_position() for t in ax.texts}
        for block, crop in zip((4, 3), crops):
            x = where[f"score_pool{block}\n1x1 -> 21"][0]
            assert where[f"+\ncrop {crop}"][0] == x  # straight down from the skip's score
            assert [text for text, (bx, _) in where.items() if text.startswith("block") and bx == x] == [
                next(t for t in where if t.startswith(f"block{block}\n"))]
        assert ax.get_title().startswith(("FCN-8s", "FCN-16s"))


def test_last_epoch_table_gives_the_loss_change_in_per_cent_and_other_changes_as_differences():
    histories = {"a": [{"epoch": 1, "loss": 2.0, "val_accuracy": 0.5},
                       {"epoch": 2, "loss": 1.5, "val_accuracy": 0.45}],
                 "b": [{"epoch": 1, "loss": 1.0, "val_accuracy": 0.25}]}
    text = viz.last_epoch_table(histories).data
    assert "| run | epochs | last epoch: loss | final loss | last epoch: validation accuracy |" in text
    assert "| a | 2 | -25% | 1.500 | -0.050 | 0.450 |" in text
    assert "| b | 1 | +0% | 1.000 | +0.000 | 0.250 |" in text


def test_show_windows_draws_the_exact_edge_in_the_colour_given():
    exact = np.zeros((40, 40), dtype=np.uint8)
    exact[10:20, 10:30] = 1
    fig = viz.show_windows(np.zeros((40, 40, 3), dtype=np.uint8), exact, [(8, 8)], size=16, exact=exact,
                           edge_color="magenta")
    edges = fig.axes[1].collections[0]
    assert fig.axes[1].get_title() == "label, exact edge magenta"
    assert np.allclose(edges.get_colors()[0], matplotlib.colors.to_rgba("magenta"))
    matplotlib.pyplot.close(fig)


def test_show_compression_shows_the_drawn_and_stored_windows_and_their_worst_channel():
    drawn = np.zeros((20, 20, 3), dtype=np.uint8)
    stored = drawn.copy()
    stored[5, 6] = (3, 40, 7)  # one pixel changed, most in green
    exact = np.zeros((20, 20), dtype=np.uint8)
    exact[:, 10:] = 1
    fig = viz.show_compression(drawn, stored, (4, 4), size=8, exact=exact)
    drawn_ax, stored_ax, error_ax = fig.axes[:3]
    error = error_ax.images[0].get_array()
    assert error.shape == (8, 8) and error[1, 2] == 40 and error.sum() == 40
    assert np.array_equal(stored_ax.images[0].get_array()[1, 2], [3, 40, 7])
    assert len(error_ax.collections[0].get_segments()) == 8  # the edge at column 10: 8 rows in the window
    assert error_ax.get_title().endswith("exact edge magenta") and not drawn_ax.collections
    matplotlib.pyplot.close(fig)


def test_show_score_maps_draws_each_position_at_its_window_centre():
    import matplotlib.pyplot as plt
    scores = torch.rand(3, 2, 4).softmax(0)
    fig = viz.show_score_maps(torch.zeros(3, 96, 160), scores, ["a", "b", "c"], stride=32, first=32,
                              marked=[(0, 0), (1, 3)])
    axes = fig.axes[:6]
    assert [ax.get_title() for ax in axes[1:5]] == ["P(a)", "P(b)", "P(c)", "answer (likeliest class)"]
    left, right, bottom, top = axes[1].images[0].get_extent()
    assert (left, right, bottom, top) == (16, 32 + 3 * 32 + 16, 32 + 32 + 16, 16)  # centres 32 + 32 j
    assert axes[1].get_xlim() == (0, 160) and axes[1].get_ylim() == (96, 0)  # the image's pixels
    assert len(axes[1].patches) == 2 and not axes[5].axison  # two marked; the spare panel off
    answer = axes[4].images[0].get_array()
    assert np.allclose(answer[1, 3], viz.class_colors([1 + int(scores[:, 1, 3].argmax())])[0])
    plt.close(fig)


def test_plot_sharing_draws_the_median_time_ratio_with_its_range():
    import matplotlib.pyplot as plt
    fig = viz.plot_sharing([160, 224, 320], {"pixels": [1, 4.6, 9], "FLOPs": [1, 4.5, 8.8]},
                           {"pixel limit": 25, "FLOP limit": 23}, {160: [0.5, 1, 3], 320: [2, 9, 10]},
                           compared="FLOPs")
    work, clock = fig.axes
    medians = clock.lines[0].get_ydata()
    assert list(medians) == [1, 9] and clock.get_yscale() == "log"
    assert list(clock.lines[-1].get_ydata()) == [1, 8.8]  # the FLOP ratio at the timed sides
    assert [line.get_color() for line in work.lines if line.get_linestyle() == ":"] == \
        [work.lines[0].get_color(), work.lines[2].get_color()]  # each limit in its ratio's colour
    plt.close(fig)


def test_plot_confusion_with_mistakes_colours_only_the_wrong_answers_on_one_scale_with_a_bar():
    confusion = torch.tensor([[90, 4], [1, 80]])
    fig = viz.plot_confusion({"first": confusion, "second": confusion.T * 2}, ["x", "y"],
                             mistakes=True)
    panels, bar = fig.axes[:2], fig.axes[2]
    assert [ax.get_title() for ax in panels] == ["first", "second"]
    image = panels[0].images[0]
    assert image.get_clim() == (0, 8)  # the largest wrong count of all panels, not the diagonal
    assert image.get_array().mask.tolist() == [[True, False], [False, True]]
    assert [t.get_text() for t in panels[0].texts] == ["90", "4", "1", "80"]
    assert bar.get_ylabel() == "wrong answers (count)"
    plain = viz.plot_confusion({"first": confusion}, ["x", "y"])
    assert len(plain.axes) == 1 and plain.axes[0].images[0].get_clim() == (0, 90)


def test_mistake_table_names_the_two_most_frequent_mistakes_and_the_most_wrongly_predicted_class():
    confusion = torch.tensor([[9, 2, 0], [5, 7, 2], [0, 1, 4]])
    text = viz.mistake_table({"net": confusion}, ["a", "b", "c"], {"net": 0.25}, "within").data
    assert text.splitlines()[0] == ("| classifier | mistakes | within | most frequent mistake | "
                                    "next most frequent | most often predicted wrongly |")
    assert text.splitlines()[2] == ("| net | 10 | 25% | b taken for a: 5 of 14 | a taken for b: 2, "
                                    "tied with b taken for c | a: 5 |")


def test_mistake_table_names_no_tie_where_the_second_most_frequent_mistake_is_alone():
    confusion = torch.tensor([[9, 3, 0], [5, 7, 2], [0, 1, 4]])
    row = viz.mistake_table({"net": confusion}, ["a", "b", "c"]).data.splitlines()[2]
    assert "| a taken for b: 3 |" in row and "tied" not in row



def test_compare_outlines_can_list_only_the_classes_present_and_number_pixels(scenes):
    image, label = data.voc_dataset(scenes, "val")[0]
    only_bar = torch.where(label == 255, label, (label != 0).long() * data.CLASSES.index("bar"))
    fig = viz.compare_outlines(image, only_bar, {"p": only_bar}, present_only=True,
                               tick_step=10, origin=(5, 20))
    names = [t.get_text() for t in fig.axes[-1].get_legend().get_texts()]
    assert names == [n for n in ("background", "bar") if (only_bar == data.CLASSES.index(n)).any()]
    assert fig.axes[1].get_xticklabels()[0].get_text() == "20"
    assert fig.axes[1].get_yticklabels()[0].get_text() == "10"


def test_time_per_flop_reading_calls_a_difference_only_beyond_the_control_in_every_round():
    control = [0.8, 1.3]  # the band is 0.8 to 1.3 (it includes 1)
    assert viz.time_per_flop_reading([20, 24], 10, control).startswith("took longer")
    assert viz.time_per_flop_reading([5, 7], 10, control).startswith("took less time")
    assert viz.time_per_flop_reading([5, 20], 10, control).startswith("not told apart")
    assert viz.time_per_flop_reading([12], 10, control).startswith("not told apart")
    assert viz.time_per_flop_reading([12], 10, [1.1, 1.1]).startswith("took longer")  # band 1-1.1


def test_timing_table_marks_the_control_and_reads_the_other_sides():
    text = viz.timing_table({160: [0.9, 1.2], 320: [30.0, 40.0]}, {160: 1.0, 320: 9.0},
                            control=160).data
    assert "(the control: the same work)" in text and "took longer" in text
    assert "| 320 | 9.0 | 35.0 | 30.0 to 40.0 |" in text


def test_gap_table_gives_both_runs_and_how_far_apart_epoch_by_epoch():
    histories = {"a": [{"epoch": 1, "loss": 2.0, "val_accuracy": 0.5},
                       {"epoch": 2, "loss": 1.5, "val_accuracy": 0.75}],
                 "b": [{"epoch": 1, "loss": 1.0, "val_accuracy": 0.25},
                       {"epoch": 2, "loss": 1.75, "val_accuracy": 0.5}]}
    lines = viz.gap_table(histories, "a", "b").data.splitlines()
    assert lines[0] == ("| epoch | loss: a | b | apart | validation accuracy: a | b | apart |")
    assert lines[2:] == ["| 1 | 2.000 | 1.000 | 1.000 | 0.500 | 0.250 | 0.250 |",
                         "| 2 | 1.500 | 1.750 | 0.250 | 0.750 | 0.500 | 0.250 |"]


def test_mark_level_and_mark_epochs_draw_a_named_floor_and_stage_ends():
    fig, ax = matplotlib.pyplot.subplots()
    ax.plot([1, 2, 3, 4], [0.2, 0.3, 0.4, 0.5], label="run")
    viz.mark_level(ax, 0.133, "all background")
    viz.mark_epochs(ax, [1, 3], ["a -> b", "b -> c"])
    lines = ax.get_lines()
    assert lines[1].get_ydata()[0] == 0.133 and lines[1].get_label() == "all background"
    assert [line.get_xdata()[0] for line in lines[2:]] == [1.5, 3.5]
    assert [text.get_text() for text in ax.texts] == ["a -> b", "b -> c"]
    with pytest.raises(ValueError):
        viz.mark_epochs(ax, [1, 3], ["only one"])
    matplotlib.pyplot.close(fig)


def test_outline_class_outlines_only_that_class_and_counts_it():
    fig, ax = matplotlib.pyplot.subplots()
    label = torch.zeros(8, 8, dtype=torch.long)
    label[2:4, 2:5] = 4
    label[6, 6] = 1
    assert viz.outline_class(ax, label, 4) == 6
    assert len(ax.collections) == 1  # one contour set
    assert viz.outline_class(ax, label, 5) == 0 and len(ax.collections) == 1  # none: nothing drawn
    matplotlib.pyplot.close(fig)


def test_plot_profiles_zoom_adds_a_magnified_row_with_markers_and_a_legend_in_every_panel():
    panels = {"a": {"x": torch.ones(50)}, "b": {"x": torch.zeros(50), "y": torch.arange(50.0)}}
    fig = viz.plot_profiles(panels, "column", "weight", zoom=10)
    top, lower = fig.axes[:2], fig.axes[2:]
    assert len(fig.axes) == 4 and len(lower[1].lines[1].get_xdata()) == 10
    assert all(ax.get_legend() is not None for ax in lower) and top[0].get_legend() is None
    assert lower[1].lines[0].get_marker() != lower[1].lines[1].get_marker()
    assert lower[0].get_title() == "a, magnified: the first 10"
    matplotlib.pyplot.close(fig)


def test_border_table_counts_the_pixels_below_full_weight():
    rows = {("mini", "FCN32s"): {"score_fr": torch.tensor([0.5, 1.0, 1.0, 0.9])}}
    text = viz.border_table(rows).data
    assert "| mini | FCN32s | score_fr | 0.500 | 2 of 4 |" in text


def test_plot_profiles_can_put_a_legend_in_every_panel_and_let_the_first_line_show_through():
    panels = {"a": {"x": torch.ones(50)}, "b": {"x": torch.zeros(50), "y": torch.ones(50)}}
    fig = viz.plot_profiles(panels, "column", "weight", zoom=10, legend="every", see_through=True)
    assert all(ax.get_legend() is not None for ax in fig.axes)
    first, later = fig.axes[1].lines
    assert later.get_linewidth() < first.get_linewidth() and later.get_alpha() < 1
    assert first.get_alpha() in (None, 1.0)
    assert fig.axes[3].lines[1].get_markerfacecolor() == "none"
    with pytest.raises(ValueError, match="legend"):
        viz.plot_profiles(panels, "column", "weight", legend="some")
    matplotlib.pyplot.close("all")


def test_show_score_maps_can_write_initials_and_outline_groups_in_the_answer_panel():
    import matplotlib.pyplot as plt
    scores = torch.zeros(3, 2, 4)
    scores[1] = 1  # "bar" everywhere
    fig = viz.show_score_maps(torch.zeros(3, 96, 160), scores, ["bar", "box", "cup"], stride=32,
                              first=32, marked=[(0, 0)], marked_label="a tile",
                              outlined={"near": [(0, 1), (1, 1)]}, initials=True)
    answer = fig.axes[4]
    assert [t.get_text() for t in answer.texts] == ["bo"] * 8  # "b" alone would be ambiguous
    dashed = [p for p in answer.patches if p.get_linestyle() == "--"]
    assert len(dashed) == 2 and len(fig.axes[1].patches) == 1  # groups in the answer panel only
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels[-2:] == ["a tile", "near"]
    plt.close(fig)


def test_plot_sharing_with_a_control_plots_time_against_work_around_the_line_y_equals_x():
    import matplotlib.pyplot as plt
    fig = viz.plot_sharing([160, 224, 320], {"pixels": [1, 4.6, 9], "FLOPs": [1, 4.5, 8.8]},
                           {"pixel limit": 25, "FLOP limit": 23}, {160: [0.5, 1, 3], 320: [2, 9, 10]},
                           compared="FLOPs", control=160)
    clock = fig.axes[1]
    assert clock.get_xscale() == clock.get_yscale() == "log"
    identity = [line for line in clock.lines if line.get_linestyle() == ":"][0]
    assert np.allclose(identity.get_xdata(), identity.get_ydata())  # y = x
    band = clock.collections[0].get_paths()[0].vertices
    assert np.isclose(band[:, 1].min() / band[:, 0].min(), 0.5)  # the control's low end, carried
    assert "160 px" in [t.get_text() for t in clock.texts]
    plt.close(fig)


def test_class_handles_are_class_legends_entries():
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    viz.class_legend(ax, present=[0, 2])
    drawn = [text.get_text() for text in ax.get_legend().get_texts()]
    handles = viz.class_handles(present=[0, 2])
    assert [h.get_label() for h in handles] == drawn == ["background", "square", "ignore (255)"]
    assert len(viz.class_handles(ignore=False)) == len(data.CLASSES)
    plt.close(fig)


def test_padding_cost_table_gives_the_paddings_share_and_no_output_where_the_window_does_not_fit():
    padded = {"conv": ((256, 256), 2_000_000), "fc6": ((4, 4), 10_000)}
    unpadded = {"conv": ((128, 128), 500_000)}
    text = viz.padding_cost_table(padded, unpadded, ["conv", "fc6"], ("pad 65", "pad 1")).data
    assert "| conv | 256 x 256 | 128 x 128 | 75% | 2.0 | 0.5 |" in text
    assert "| fc6 | 4 x 4 | no output | - | 0.0 | - |" in text and "MFLOPs, pad 65" in text


def test_plot_runs_draws_one_colour_per_row_and_the_highlighted_seed_thick():
    history = [{"epoch": e, "val_mean_iu": 0.1 * e} for e in (1, 2, 3)]
    fig = viz.plot_runs({"a": {0: history, 1: history}, "b": {0: history}})
    ax = fig.axes[0]
    widths = sorted(line.get_linewidth() for line in ax.lines)
    assert len(ax.lines) == 3 and widths == [0.9, 2, 2]
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert labels == ["a (2 seeds)", "b (1 seed)", "seed 0", "other seeds"]
    matplotlib.pyplot.close(fig)


def test_plot_seed_points_draws_a_column_per_kind_and_labels_each_point_with_its_seed():
    fig = viz.plot_seed_points({"val": {"classifier seeds": [0.05, 0.07, 0.02], "FCN seeds": [0.05, 0.02]},
                                "fresh": {"classifier seeds": [0.07, 0.072, 0.02], "FCN seeds": [0.07, 0.04]}},
                               ylabel="step")
    assert [ax.get_title() for ax in fig.axes] == ["val", "fresh"]
    ax = fig.axes[0]
    assert [list(line.get_xdata()) for line in ax.lines[:2]] == [[0, 0, 0], [1, 1]]
    assert [text.get_text() for text in ax.texts] == ["0", "1", "2", "0", "1"]
    sides = [text.xyann[0] for text in fig.axes[1].texts]  # 0.07 and 0.072 are near: 1 goes left
    assert sides == [6, -12, 6, 6, 6]
    assert [label.get_text() for label in ax.get_xticklabels()] == ["classifier seeds", "FCN seeds"]
    assert not ax.collections and ax.get_legend() is None  # no ranges, no bands
    matplotlib.pyplot.close(fig)


def test_plot_seed_points_draws_a_range_as_a_band_behind_its_column_only():
    fig = viz.plot_seed_points({"val": {"classifier seeds": [0.05, 0.07], "FCN seeds": [0.05, 0.02]}},
                               ylabel="step", ranges={"val": {"FCN seeds": (-0.01, 0.09)}},
                               range_label="a new seed, 95 %")
    ax = fig.axes[0]
    (band,) = ax.collections
    corners = band.get_paths()[0].vertices
    assert corners[:, 0].min() == pytest.approx(0.7) and corners[:, 0].max() == pytest.approx(1.3)
    assert corners[:, 1].min() == pytest.approx(-0.01) and corners[:, 1].max() == pytest.approx(0.09)
    assert [text.get_text() for text in ax.get_legend().get_texts()] == ["a new seed, 95 %"]
    matplotlib.pyplot.close(fig)


def test_seed_table_puts_a_dash_where_a_row_lacks_a_seed_and_signs_the_differences():
    lines = viz.seed_table({"FCN-8s": {0: 0.6, 1: 0.7}, "8s - 16s": {0: 0.05, 1: -0.01, 2: 0.02}},
                           signed=["8s - 16s"]).data.splitlines()
    assert lines[0] == "| row | FCN seed 0 | FCN seed 1 | FCN seed 2 | largest - smallest |"
    assert lines[2:] == ["| FCN-8s | 0.600 | 0.700 | - | 0.100 |", "| 8s - 16s | +0.050 | -0.010 | +0.020 | 0.060 |"]


def test_levelled_table_gives_each_rows_state_by_both_scene_sets():
    states = {"FCN-8s": ("levelled at 30", "too close to call at 30"), "dilated": ("levelled at 20",) * 2}
    lines = viz.levelled_table(states).data.splitlines()
    assert lines[2:] == ["| FCN-8s | levelled at 30 | too close to call at 30 |",
                         "| dilated | levelled at 20 | levelled at 20 |"]


def test_levelled_table_can_show_each_rows_last_gain_beside_its_verdict():
    from types import SimpleNamespace
    step = SimpleNamespace(epochs=30, longer_epochs=45, yardstick=0.026,
                           gain=SimpleNamespace(difference=0.014, low=-0.001, high=0.029))
    fresh = SimpleNamespace(**{**vars(step), "yardstick": 0.014})
    lines = viz.levelled_table({"FCN-8s": ("levelled at 30",) * 2}, last={"FCN-8s": (step, fresh)}
                               ).data.splitlines()
    assert lines[0].endswith("| gain over 30 -> 45 epochs, validation (95% over scenes; yardstick 0.026) "
                             "| fresh (yardstick 0.014) |")
    assert lines[2] == ("| FCN-8s | levelled at 30 | levelled at 30 | +0.014 (-0.001 to +0.029) "
                        "| +0.014 (-0.001 to +0.029) |")
    other = SimpleNamespace(epochs=20, longer_epochs=30, yardstick=0.02, gain=step.gain)  # each its own step
    lines = viz.levelled_table({"a": ("levelled at 30",) * 2, "b": ("levelled at 20",) * 2},
                               last={"a": (step, fresh), "b": (other, other)}).data.splitlines()
    assert lines[0].endswith("| gain over the last step, validation (95% over scenes; yardstick 0.020 or 0.026) "
                             "| fresh (yardstick 0.014 or 0.020) |")
    assert lines[3].startswith("| b | levelled at 20 | levelled at 20 | 20 -> 30: +0.014")


def test_both_sets_puts_one_value_per_scene_set_in_one_cell():
    assert viz.both_sets(["levelled at 45", "still rising at 45"]) == "levelled at 45 / still rising at 45"
    assert viz.both_sets(x for x in (20, 30)) == "20 / 30"


def test_plot_budget_scores_draws_a_line_per_scene_set_in_each_rows_panel_and_the_seeds_range():
    scores = {"a": {"val": {20: 0.5, 30: 0.6, 45: 0.62}, "fresh": {20: 0.55, 30: 0.64, 45: 0.66}},
              "b": {"val": {20: 0.4, 30: 0.45}, "fresh": {20: 0.42, 30: 0.47}}}
    fig = viz.plot_budget_scores(scores, seeds={"a": {"val": [0.48, 0.52, 0.5], "fresh": [0.53, 0.56]}})
    shown = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in shown] == ["a", "b"]
    assert [len(ax.lines) for ax in shown] == [4, 2]  # a line per scene set, and a's two seed ranges
    assert list(shown[0].lines[0].get_xdata()) == [20, 30, 45] and shown[0].get_xscale() == "log"
    assert list(shown[0].lines[1].get_ydata()) == [0.48, 0.52]  # the validation seeds' range
    assert [label.get_text() for label in shown[0].get_xticklabels()] == ["20", "30", "45"]
    labels = [text.get_text() for text in fig.legends[0].get_texts()]
    assert labels == ["val, run 0", "fresh, run 0", "FCN seeds' range at 20 epochs"]
    matplotlib.pyplot.close(fig)
    assert len(viz.plot_budget_scores(scores).legends[0].get_texts()) == 2  # no seeds: no range
    matplotlib.pyplot.close("all")


def test_plot_last_steps_draws_each_gain_coloured_by_its_state_against_the_yardstick():
    from types import SimpleNamespace

    def step(low, high, state, epochs=(30, 45)):
        gain = SimpleNamespace(difference=(low + high) / 2, low=low, high=high)
        return SimpleNamespace(gain=gain, yardstick=0.03, state=state, epochs=epochs[0], longer_epochs=epochs[1])
    last = {"a": (step(-0.01, 0.02, "levelled"), step(0.04, 0.06, "still rising")),
            "b": (step(0.01, 0.05, "too close to call"),) * 2}
    fig = viz.plot_last_steps(last)
    val, fresh = fig.axes
    assert [t.get_text() for t in val.get_yticklabels()] == ["a", "b"]  # one step: the rows' names
    apart = viz.plot_last_steps({**last, "c": (step(0.0, 0.01, "levelled", (45, 70)),) * 2})
    assert [t.get_text() for t in apart.axes[0].get_yticklabels()] == ["a (30 -> 45)", "b (30 -> 45)", "c (45 -> 70)"]
    matplotlib.pyplot.close(apart)
    points = [line for line in fresh.lines if line.get_marker() in viz.STATE_MARKERS.values()]
    assert [(line.get_color(), line.get_marker()) for line in points] == [
        (viz.STATE_COLOURS[state], viz.STATE_MARKERS[state]) for state in ("still rising", "too close to call")]
    assert [text.get_text() for text in val.texts] == ["0.030"]  # the yardstick, written
    yardsticks = [line for line in val.lines if line.get_gid() == "yardstick"]
    assert [tuple(line.get_xdata()) for line in yardsticks] == [(0.03, 0.03)]
    bar = val.collections[0].get_segments()[0]  # the first row's interval
    assert tuple(np.round(bar[:, 0], 3)) == (-0.01, 0.02)
    assert not [patch for patch in val.patches if patch.get_gid() == "band"]  # no band unless asked
    matplotlib.pyplot.close(fig)
    banded = viz.plot_last_steps(last, band=0.02)
    spans = [patch for patch in banded.axes[0].patches if patch.get_gid() == "band"]
    assert [tuple(np.round(span.get_x() + np.array([0, span.get_width()]), 3)) for span in spans] == [(0.01, 0.05)]
    assert "yardstick ± 0.020" in [text.get_text() for text in banded.legends[0].get_texts()]
    matplotlib.pyplot.close(banded)


def test_compare_outlines_can_name_the_white_outline_in_the_legend():
    image, label = torch.zeros(3, 16, 16), torch.zeros(16, 16, dtype=torch.long)
    label[4:12, 4:12] = 1
    fig = viz.compare_outlines(image, label, {"net": label}, outline_label="true outline")
    texts = [t.get_text() for t in fig.axes[-1].get_legend().get_texts()]
    assert texts[-1] == "true outline"
    matplotlib.pyplot.close(fig)


def test_plot_iteration_times_marks_the_sizes_measured_on_the_x_axis():
    times = {(10, 20): [1.0, 1.2, 3.0], (20, 40): [2.0, 2.5, 2.2]}
    ax = viz.plot_iteration_times(times)
    assert list(ax.get_xticks()) == [200, 800]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["20 x 10\n200", "40 x 20\n800"]


def test_plot_history_can_count_optimizer_steps_on_the_x_axis():
    history = [{"epoch": 1, "loss": 2.0, "val_mean_iu": 0.1}, {"epoch": 2, "loss": 1.0, "val_mean_iu": 0.3}]
    fig = viz.plot_history({"run": history}, steps_per_epoch=150)
    assert [ax.get_xlabel() for ax in fig.axes] == ["optimizer steps", "optimizer steps"]
    assert list(fig.axes[1].get_lines()[0].get_xdata()) == [150, 300]
    matplotlib.pyplot.close(fig)


def test_plot_history_puts_runs_with_different_epoch_lengths_on_one_step_axis():
    history = [{"epoch": 1, "loss": 2.0, "val_mean_iu": 0.1}, {"epoch": 2, "loss": 1.0, "val_mean_iu": 0.3}]
    fig = viz.plot_history({"short": history, "long": history}, steps_per_epoch={"short": 150, "long": 300})
    assert [list(line.get_xdata()) for line in fig.axes[0].get_lines()] == [[150, 300], [300, 600]]
    matplotlib.pyplot.close(fig)


def test_plot_history_dashes_a_curve_that_repeats_an_earlier_one_and_names_it():
    history = [{"epoch": 1, "loss": 2.0}, {"epoch": 2, "loss": 1.0}]
    other = [{"epoch": 1, "loss": 2.0}, {"epoch": 2, "loss": 1.5}]
    fig = viz.plot_history({"a": history, "b": other, "c": list(history)}, keys=("loss",))
    lines = fig.axes[0].get_lines()
    assert [line.get_linestyle() for line in lines] == ["-", "-", "--"]
    assert [line.get_label() for line in lines] == ["a", "b", "c (= a)"]
    matplotlib.pyplot.close(fig)


def test_show_predictions_puts_each_model_in_a_column_with_its_captions():
    images = [torch.zeros(3, 8, 8)] * 2
    labels = [torch.zeros(8, 8, dtype=torch.long)] * 2
    fig = viz.show_predictions(images, labels, {"a": labels, "b": labels},
                               captions={"b": ["one", "two"]})
    assert len(fig.axes) == 8
    assert [ax.get_title() for ax in fig.axes[:4]] == ["image", "label", "a", "b"]
    assert fig.axes[3].get_xlabel() == "one" and fig.axes[7].get_xlabel() == "two"
    assert fig.axes[2].get_xlabel() == ""


def test_show_thickness_draws_each_bin_in_its_colour_and_the_background_grey():
    from matplotlib.colors import to_rgba

    label = torch.zeros(12, 12, dtype=torch.long)
    label[2:5, 2:10] = 5  # a bar
    thickness = torch.zeros(12, 12, dtype=torch.long)
    thickness[2:5, 2:10] = 3
    thickness[8, 8] = 41  # a pixel of the open last bin
    fig = viz.show_thickness([label], [thickness])
    drawn = fig.axes[1].get_images()[0]
    rgba = drawn.to_rgba(drawn.get_array())
    assert tuple(rgba[3, 3]) == to_rgba(viz.THICKNESS_COLOURS[0])  # side 3: the thinnest bin
    assert tuple(rgba[8, 8]) == to_rgba(viz.THICKNESS_COLOURS[-1])
    assert tuple(rgba[0, 0]) == to_rgba("#e6e6e6")  # thickness 0: the background
    bar = fig.axes[-1]
    assert [t.get_text() for t in bar.get_yticklabels()] == ["1-7", "8-15", "16-31", ">= 32"]
    matplotlib.pyplot.close(fig)


def test_lineage_reads_kernels_strides_frozen_upsamplers_and_concatenated_channels():
    from fcn_lesson.descendants import DilatedFCN, UNetFCN
    from fcn_lesson.models import FCN8s

    unet = UNetFCN(7)
    table = viz.lineage(FCN8s(7, backbone="mini"), DilatedFCN(7), unet)
    dense, up, skips = table.values()
    assert dense["dilated"].endswith("3x3 conv + 1x1 head") and dense["U-Net"].endswith("1x1 scores at stride 1")
    assert up["FCN-8s"].endswith("(fixed)")
    learned = viz.lineage(FCN8s(7, backbone="mini", learnable_upsampling=True), DilatedFCN(7), unet)
    assert learned["upsampling\ninside the network"]["FCN-8s"].endswith("(learned)")
    widths = unet.layout.widths  # the encoder's maps, deepest first, then the image's 3 channels
    channels = ", ".join(map(str, [widths[3], widths[2], widths[1], widths[0], 3]))
    assert f"concatenated\n({channels} channels)" in skips["U-Net"]


def test_plot_runs_ends_a_rows_legend_entry_with_its_note():
    history = [{"epoch": e, "val_mean_iu": 0.1 * e} for e in (1, 2, 3)]
    fig = viz.plot_runs({"a": {0: history, 1: history}, "b": {0: history}}, notes={"b": "other scenes"},
                        legend_outside=True)
    legend = fig.axes[0].get_legend()
    labels = [text.get_text() for text in legend.get_texts()]
    assert labels[:2] == ["a (2 seeds)", "b (1 seed; other scenes)"]
    fig.canvas.draw()  # the legend lies right of the axes
    assert legend.get_window_extent().x0 > fig.axes[0].get_window_extent().x1
    matplotlib.pyplot.close(fig)


def test_verdict_table_names_the_fresh_scenes_when_told_how_many():
    ahead = stats.Verdict("FCN-8s", "FCN-16s", 0.047, 0.017, 0.075, 3, 300, True, "mean IU")
    lines = viz.verdict_table([ahead], [ahead], fresh_scenes=1000).data.splitlines()
    assert lines[0].endswith("| verdict on 1000 fresh scenes |")
    assert lines[2].endswith("| 3 | the same |")


def test_show_predictions_outlines_the_true_objects_on_the_prediction_panels_only():
    images = [torch.zeros(3, 8, 8)]
    label = torch.zeros(8, 8, dtype=torch.long)
    label[2:6, 2:6] = 1
    fig = viz.show_predictions(images, [label], {"a": [label]}, outlines=True)
    assert len(fig.axes[2].collections) == 1 and not fig.axes[1].collections
    assert fig.axes[2].get_legend().get_texts()[-1].get_text() == "true outline"
    matplotlib.pyplot.close(fig)


def test_show_predictions_highlights_one_class_in_the_label_and_every_prediction():
    images = [torch.zeros(3, 8, 8)]
    label = torch.zeros(8, 8, dtype=torch.long)
    label[2:6, 2:6] = 4
    fig = viz.show_predictions(images, [label], {"a": [label], "b": [label * 0]}, highlight=(4, "orange"))
    assert [len(ax.collections) for ax in fig.axes[:4]] == [0, 1, 1, 0]  # b draws no class 4
    assert fig.axes[3].get_legend().get_texts()[-1].get_text() == f"{viz.CLASSES[4]} pixels"
    matplotlib.pyplot.close(fig)


def test_drawn_by_class_and_drawn_caption_read_one_confusion_matrix():
    from fcn_lesson.metrics import confusion_matrix

    target = torch.tensor([[0, 1, 1, 2]])
    pred = torch.tensor([[1, 1, 0, 1]])  # class 1 drawn on 3 pixels, 1 of them right
    confusion = confusion_matrix(pred, target, 3)
    assert viz.drawn_by_class(confusion, ["bg", "a", "b"]) == "a 3 px, 33%"
    assert viz.drawn_by_class(confusion_matrix(target * 0, target, 3), ["bg", "a", "b"]) == "no object"
    assert viz.drawn_caption(confusion, 1, 2) == "33% on own class\nobjects found: 1 of 2"
    assert viz.drawn_caption(confusion_matrix(target * 0, target, 3), 0, 2).startswith("no object drawn")


def test_draw_fcn_title_names_one_crop_or_several_as_derived_from_the_layers():
    from fcn_lesson.models import FCN8s, FCN32s
    assert viz.draw_fcn(FCN32s(21, backbone="vgg16")).get_title() == "FCN-32s: crop 19, derived from the layers"
    assert viz.draw_fcn(FCN8s(21, backbone="vgg16")).get_title().startswith("FCN-8s: crops 5, 9, 31")
    matplotlib.pyplot.close("all")


def test_a_probability_that_rounds_to_zero_is_printed_as_below_the_last_digit():
    assert viz.probability(0.0206, 4) == "= 0.0206" and viz.probability(0.694) == "= 0.694"
    assert viz.probability(0.00004, 4) == "< 0.0001" and viz.probability(0.0) == "< 0.001"
    assert viz.probability(0.0005) == "= 0.001"  # rounds up: printed as it rounds
    with pytest.raises(ValueError, match="lies in"):
        viz.probability(1.5)
