"""The figures with sliders: each slider position carries the data it shows, every form of the
figure is there (Plotly data, HTML with its picture, PNG), and the book ships plotly.js."""
import base64
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from fcn_lesson import interactive, surgery


def crop_figure(derived=2):
    offsets = [0, 1, 2, 3]
    pictures = [np.full((4, 4, 3), 40 * k, dtype=np.uint8) for k in offsets]
    return interactive.crop_explorer(offsets, [0.1, 0.3, 0.6, 0.4], pictures, derived)


def test_image_uri_is_a_png_of_the_picture():
    picture = np.arange(48, dtype=np.uint8).reshape(4, 4, 3)
    uri = interactive.image_uri(picture)
    assert uri.startswith("data:image/png;base64,")
    from PIL import Image
    import io

    decoded = np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))))
    assert np.array_equal(decoded, picture)
    with pytest.raises(ValueError, match="H x W x 3 uint8"):
        interactive.image_uri(np.zeros((4, 4)))


def test_outlined_draws_the_prediction_and_the_true_outlines_between_pixels_in_white():
    label = torch.zeros(6, 6, dtype=torch.long)
    label[2:4, 2:4] = 1
    prediction = torch.zeros(6, 6, dtype=torch.long)
    prediction[2, 2] = 1
    picture = interactive.outlined(prediction, label, zoom=4)
    assert picture.shape == (24, 24, 3)
    white = (picture == 255).all(-1)
    assert white[8, 8:16].all() and white[16, 8:16].all()  # above row 2 and below row 3
    assert white[8:16, 8].all() and white[8:16, 16].all()  # left of column 2, right of column 3
    assert white.sum() == 4 * 8 - 1  # nothing else: four lines of 8 sub-pixels, one corner shared
    assert picture[10, 10].tolist() == [128, 0, 0]  # the predicted pixel shows through
    with pytest.raises(ValueError, match="one shape"):
        interactive.outlined(torch.zeros(6, 6), torch.zeros(5, 6))
    with pytest.raises(ValueError, match="zoom >= 2"):
        interactive.outlined(prediction, label, zoom=1)


def test_a_slider_step_restyles_the_traces_it_names():
    step = interactive.slider("crop", [0, 1], [{"x": [[0]]}, {"x": [[1]]}], [3], active=1)
    assert step["active"] == 1 and step["steps"][1]["args"] == [{"x": [[1]]}, [3]]
    assert step["steps"][1]["label"] == "1" and step["currentvalue"]["prefix"] == "crop: "
    with pytest.raises(ValueError, match="2 slider values but 1 updates"):
        interactive.slider("crop", [0, 1], [{"x": [[0]]}], [3], active=0)


def test_the_crop_explorer_opens_at_the_derived_crop_and_moves_picture_and_marker():
    figure = crop_figure().figure
    slider = figure.layout.sliders[0]
    assert slider.active == 2 and len(slider.steps) == 4
    image, marker = figure.data[0], figure.data[3]
    assert image.source == interactive.image_uri(np.full((4, 4, 3), 80, dtype=np.uint8))
    assert list(marker.x) == [2] and list(marker.y) == [0.6]
    last = slider.steps[3].args
    assert list(last[1]) == [0, 3] and last[0]["x"] == [None, [3]] and last[0]["y"] == [None, [0.4]]
    with pytest.raises(ValueError, match="derived one among them"):
        crop_figure(derived=7)


def test_the_coordinate_explorer_draws_each_span_around_each_pixel():
    panels = {"A": {"centres": [-10.0, 6.0], "fields": {"score_fr": [(-20, 0), (-4, 16)], "pool3": [(-12, -8), (4, 8)]}},
              "B": {"centres": [1.0], "fields": {"score_fr": [(-9, 11)]}}}
    figure = interactive.coordinate_explorer(panels, image_size=16, padding=5).figure
    assert len(figure.layout.sliders) == 2
    step = figure.layout.sliders[0].steps[0].args[0]  # A's first pixel
    assert step["x"][0] == [-20.5, 0.5, 0.5, -20.5, -20.5] and step["x"][1][:2] == [-12.5, -7.5]
    assert step["x"][2] == [-10.0]
    with pytest.raises(ValueError, match="needs centres and fields"):
        interactive.coordinate_explorer({"C": {"centres": [], "fields": {}}}, 16, 5)
    with pytest.raises(ValueError, match="one field span per pixel"):
        interactive.coordinate_explorer({"C": {"centres": [0.0], "fields": {"pool3": []}}}, 16, 5)


def test_the_upsampling_ruler_is_the_layers_own_output_split_into_tents():
    signal = torch.tensor([0.4, 1.0, 0.5])
    ruler = interactive.upsampling_ruler(surgery.bilinear_upsampler(1, 2, padding=1), signal)
    assert ruler.at.tolist() == [-0.25, 0.25, 0.75, 1.25, 1.75, 2.25]  # (i + 1/2) / 2 - 1/2
    assert ruler.tents.shape == (3, 6) and np.allclose(ruler.tents.sum(0), ruler.output)
    assert np.allclose(ruler.tents[1], 1.0 * np.maximum(0, 1 - abs(ruler.at - 1)))  # input 1's tent
    assert np.allclose(ruler.output[1:-1], ruler.interpolated[1:-1])  # the lines, inside
    assert ruler.interpolated[0] == pytest.approx(0.4) and ruler.output[0] < 0.4  # past the end: lower


def test_the_kernel_explorer_has_a_slider_for_the_factor_and_one_for_the_kernel():
    ruler = interactive.Ruler(np.array([0.0, 0.5, 1.0]), np.array([[1, 0.5, 0], [0, 0.5, 1]]),
                              np.ones(3), np.ones(3))
    constants = {"uniform 2, stride 2": np.ones((2, 2)), "uniform 3, stride 2": np.zeros((3, 3))}
    figure = interactive.kernel_explorer([2, 4], [np.ones((4, 4)), np.ones((8, 8))], [ruler] * 2,
                                         [1, 1], constants).figure
    factor, kernel = figure.layout.sliders
    assert [s.label for s in factor.steps] == ["2", "4"] and [s.label for s in kernel.steps] == list(constants)
    assert np.asarray(factor.steps[0].args[0]["z"][0]).shape == (4, 4)
    assert list(factor.steps[0].args[1]) == [0, 1, 2, 3, 4]  # the kernel, two tents, output, interpolation
    ones, = kernel.steps[1].args[1]
    assert figure.data[ones].type == "heatmap" and np.asarray(figure.data[ones].z).shape == (3, 3)
    titles = [annotation.text for annotation in figure.layout.annotations]
    assert titles[1] == interactive.TENTS_TITLE and not figure.layout.showlegend  # the title is the key


def test_the_skip_explorer_has_one_slider_per_skip():
    pictures = {name: [[np.zeros((4, 8, 3), dtype=np.uint8)] * 3] * 2 for name in ("a, off", "b, on")}
    figure = interactive.skip_explorer([0.0, 1.0], pictures, {"a, off": [0.1, 0.5], "b, on": [0.5, 0.6]},
                                       levels={"floor": 0.2}).figure
    first, second = figure.layout.sliders
    assert list(first.steps[0].args[1]) == [0, 4] and list(second.steps[0].args[1]) == [1, 5]
    assert second.steps[0].args[0]["y"] == [None, [0.5]]
    assert list(figure.data[6].y) == [0.2, 0.2] and figure.data[6].name == "floor"
    assert figure.data[0].source == interactive.image_uri(interactive.side_by_side(pictures["a, off"][1]))
    with pytest.raises(ValueError, match="same two skips"):
        interactive.skip_explorer([0.0, 1.0], pictures, {"a, off": [0.1, 0.5]})


def test_side_by_side_keeps_the_scenes_apart():
    row = interactive.side_by_side([np.zeros((2, 3, 3), np.uint8), np.full((2, 1, 3), 9, np.uint8)], gap=2)
    assert row.shape == (2, 6, 3) and (row[:, 3:5] == 128).all() and (row[:, 5] == 9).all()
    with pytest.raises(ValueError, match="one height"):
        interactive.side_by_side([np.zeros((2, 3, 3), np.uint8), np.zeros((3, 3, 3), np.uint8)])


def test_every_form_of_the_figure_is_there_and_the_html_keeps_its_picture():
    bundle = crop_figure()._repr_mimebundle_()
    assert set(bundle) == {interactive.PLOTLY_MIME, "image/png", "text/html", "text/plain"}
    png = base64.b64decode(bundle["image/png"])
    assert png.startswith(b"\x89PNG") and len(png) > 5000
    html = bundle["text/html"]
    assert f'src="data:image/png;base64,{bundle["image/png"]}"' in html  # the picture, until drawn
    assert "if (window.Plotly) { draw(); return; }" in html and "cdn.plot.ly/plotly-" in html
    start = html.index("var figure = ") + len("var figure = ")
    figure = json.loads(html[start:html.index(";\n", start)])
    assert figure["layout"]["sliders"][0]["active"] == 2 == bundle[interactive.PLOTLY_MIME]["layout"]["sliders"][0]["active"]


def test_static_png_draws_the_figure_as_it_opens():
    from PIL import Image
    import io

    picture = np.asarray(Image.open(io.BytesIO(interactive.static_png(crop_figure().figure))))
    assert picture.shape[0] > 300 and picture.std() > 10


def test_the_static_picture_keeps_the_colour_bars_the_legend_and_the_titles_line_breaks():
    go, make_subplots = interactive._plotly()
    figure = make_subplots(1, 2, subplot_titles=("first line<br>second line", "one line"))
    figure.add_trace(go.Heatmap(z=[[0, 1]], colorbar={"title": {"text": "value"}}), 1, 1)
    figure.add_trace(go.Heatmap(z=[[0, 1]], showscale=False), 1, 2)
    figure.add_trace(go.Scatter(x=[0, 1], y=[0, 1], name="shown", showlegend=True), 1, 2)
    figure.add_trace(go.Scatter(x=[0, 1], y=[1, 0], name="left out"), 1, 2)
    figure.update_layout(showlegend=True)
    canvas = interactive.static_picture(figure)
    bars = [ax for ax in canvas.axes if ax.get_ylabel() == "value"]
    assert len(canvas.axes) == 3 and len(bars) == 1  # two panels, one colour bar
    assert [text.get_text() for text in canvas.legends[0].get_texts()] == ["shown"]
    assert "first line\nsecond line" in [text.get_text() for text in canvas.texts]


def test_the_sphinx_extension_ships_plotly_js_and_loads_it(tmp_path):
    added, hooks = [], {}
    app = SimpleNamespace(add_js_file=added.append, connect=lambda event, hook: hooks.update({event: hook}),
                          outdir=str(tmp_path), builder=SimpleNamespace(format="html"))
    assert interactive.setup(app)["parallel_read_safe"]
    assert added == ["plotly.min.js"]
    hooks["build-finished"](app, None)
    shipped = tmp_path / "_static" / "plotly.min.js"
    import plotly

    assert shipped.read_bytes() == (Path(plotly.__file__).parent / "package_data" / "plotly.min.js").read_bytes()


def test_the_book_skips_the_plotly_data_form_quietly_and_shows_the_html():
    from myst_nb.core.render import get_mime_priority, load_mime_renders

    assert interactive.PlotlyDataInTheBook in load_mime_renders()  # installed with the package
    data = SimpleNamespace(mime_type=interactive.PLOTLY_MIME)
    assert interactive.PlotlyDataInTheBook.handle_mime(None, data, False) == []
    assert interactive.PlotlyDataInTheBook.handle_mime(None, SimpleNamespace(mime_type="text/html"), False) is None
    priority = get_mime_priority("html", [])
    assert interactive.PLOTLY_MIME not in priority and "text/html" in priority
