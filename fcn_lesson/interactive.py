"""Figures a reader can move: Plotly sliders that run in the page, without a kernel.

Every position of every slider is computed beforehand by a chapter's cells; moving a slider
only swaps data already in the page, so the figures work wherever plotly.js runs. Plotly is
the library because it is the well-kept one whose figures are plain data (JSON) drawn by one
JavaScript file, with sliders that restyle traces on the client: no server, no kernel.
One display object carries the figure three ways, and each place shows what it can:

- JupyterLab draws the Plotly data with the `jupyterlab-plotly` renderer the plotly wheel installs
  (it shows the PNG until the mouse enters the figure, then the live figure);
- the built book and Colab draw the HTML, which uses the page's plotly.js: in the book the copy
  that :func:`setup` (a Sphinx extension, in ``_config.yml``) ships in ``_static``, so it works
  offline; where there is none (Colab) the HTML loads the same version from Plotly's CDN;
- where no script runs (a PDF, a repository's notebook preview) the HTML's picture of the figure
  as it opens stays, and the PNG form is there for viewers that show only pictures.
"""
from __future__ import annotations

import base64
import html
import io
import json
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import nn

from . import geometry
from .data import CLASSES, object_pixels
from .surgery import upsample_row
from .viz import class_colors, colorize

__all__ = ["Interactive", "PlotlyDataInTheBook", "Ruler", "coordinate_explorer", "crop_explorer", "image_uri",
           "kernel_explorer", "outlined", "setup", "side_by_side", "skip_explorer", "slider", "static_picture",
           "static_png", "upsampling_ruler"]

PLOTLY_MIME = "application/vnd.plotly.v1+json"
_CONFIG = {"displaylogo": False, "displayModeBar": False}  # no zoom tools over the legends


def _plotly():
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    return go, make_subplots


def image_uri(picture: np.ndarray) -> str:
    """An H x W x 3 uint8 picture as a PNG data URI: what an image trace shows and a slider swaps."""
    from PIL import Image

    picture = np.asarray(picture)
    if picture.ndim != 3 or picture.shape[2] != 3 or picture.dtype != np.uint8:
        raise ValueError(f"image_uri takes an H x W x 3 uint8 picture, got {picture.dtype} {picture.shape}")
    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def outlined(prediction: torch.Tensor, label: torch.Tensor, zoom: int = 3) -> np.ndarray:
    """The predicted classes in the palette's colours, each pixel drawn ``zoom`` x ``zoom`` (a
    browser's smoothing cannot blur an edge), and the true objects' outlines in white, a line one
    sub-pixel wide on the border between two pixels: no predicted pixel is hidden, no side favoured."""
    prediction, label = (np.asarray(t.cpu()) for t in (prediction, label))
    if prediction.shape != label.shape or prediction.ndim != 2:
        raise ValueError(f"outlined takes two H x W maps of one shape, got {prediction.shape} and {label.shape}")
    if zoom < 2:
        raise ValueError(f"outlined needs zoom >= 2 to draw the outline between pixels, got {zoom}")
    picture = colorize(prediction).repeat(zoom, 0).repeat(zoom, 1)
    objects = object_pixels(label)
    for row, col in zip(*np.nonzero(objects[1:] != objects[:-1])):  # between rows row and row + 1
        picture[(row + 1) * zoom, col * zoom:(col + 1) * zoom] = 255
    for row, col in zip(*np.nonzero(objects[:, 1:] != objects[:, :-1])):
        picture[row * zoom:(row + 1) * zoom, (col + 1) * zoom] = 255
    return picture


def slider(label: str, values: Sequence, updates: Sequence[Mapping[str, list]], traces: Sequence[int], *,
           active: int, x: float = 0.0, length: float = 1.0, y: float = -0.12) -> dict:
    """A Plotly slider: step ``k`` shows ``values[k]`` and sets, on each of ``traces``, the properties
    in ``updates[k]`` (each a list with one entry per trace). All in the page: nothing is computed."""
    if len(values) != len(updates):
        raise ValueError(f"{len(values)} slider values but {len(updates)} updates")
    steps = [{"method": "restyle", "label": str(value), "args": [dict(update), list(traces)]}
             for value, update in zip(values, updates)]
    crowded = sum(len(str(v)) + 2 for v in values) > 100  # labels would overlap: the current value says it
    return {"active": active, "steps": steps, "x": x, "len": length, "y": y, "yanchor": "top",
            "currentvalue": {"prefix": f"{label}: ", "font": {"color": "#444"}}, "pad": {"t": 10},
            "font": {"color": "rgba(0,0,0,0)" if crowded else "#444"}}


class Interactive:
    """A Plotly figure shown as Plotly data, HTML (with its picture inside) and a PNG (see the module)."""

    def __init__(self, figure, alt: str):
        self.figure, self.alt = figure, alt

    def _figure_json(self) -> dict:
        return json.loads(self.figure.to_json())

    def _repr_mimebundle_(self, include=None, exclude=None):
        png = static_png(self.figure)
        figure = self._figure_json()
        return {PLOTLY_MIME: {**figure, "config": _CONFIG}, "image/png": base64.b64encode(png).decode(),
                "text/html": self._html(figure, png), "text/plain": f"<interactive figure: {self.alt}>"}

    def _html(self, figure: dict, png: bytes) -> str:
        from plotly.offline import get_plotlyjs_version

        node = f"fcn-interactive-{uuid.uuid4().hex[:12]}"
        data = json.dumps({**figure, "config": _CONFIG}).replace("</", "<\\/")
        cdn = f"https://cdn.plot.ly/plotly-{get_plotlyjs_version()}.min.js"
        picture = base64.b64encode(png).decode()
        return (f'<div class="fcn-interactive" id="{node}">'
                f'<img src="data:image/png;base64,{picture}" alt="{html.escape(self.alt)}" '
                f'style="max-width:100%"></div>\n'
                f"<script>(function () {{\n"
                f"  var figure = {data};\n"
                f"  function draw() {{\n"
                f"    var node = document.getElementById({json.dumps(node)});\n"
                f"    node.innerHTML = '';\n"
                f"    Plotly.newPlot(node, figure.data, figure.layout, figure.config);\n"
                f"  }}\n"
                f"  if (window.Plotly) {{ draw(); return; }}\n"
                f"  var script = document.createElement('script');\n"
                f"  script.src = {json.dumps(cdn)};\n"
                f"  script.onload = draw;  /* offline without the book's copy: the picture stays */\n"
                f"  document.head.appendChild(script);\n"
                f"}})();</script>")


def _rgb(colour: str) -> tuple:
    """A Plotly colour ("rgb(r,g,b)", "#rrggbb" or a name) as matplotlib's RGB floats."""
    from matplotlib.colors import to_rgb

    if colour.startswith("rgb"):
        return tuple(float(v) / 255 for v in colour[colour.index("(") + 1:-1].split(",")[:3])
    return to_rgb(colour)


def _colour_map(scale: list):
    """A Plotly colour scale ([[position, colour], ...]) as a matplotlib colour map."""
    from matplotlib.colors import LinearSegmentedColormap

    return LinearSegmentedColormap.from_list("plotly", [(float(p), _rgb(c)) for p, c in scale])


def _axes_domains(layout: dict) -> dict[str, tuple]:
    domains = {}
    for key, axis in layout.items():
        if key.startswith("xaxis"):
            y_name = "yaxis" + key[5:]
            domains["x" + key[5:]] = (axis.get("domain", [0, 1]), layout.get(y_name, {}).get("domain", [0, 1]),
                                      layout.get(y_name, {}), axis)
    return domains or {"x": ([0, 1], [0, 1], {}, {})}


def static_png(figure, dpi: int = 100) -> bytes:
    """The figure as it opens (each slider at its active step), drawn by matplotlib: heatmaps (with
    their colour bars), images, lines and markers, the legend, titles. It is the picture shown where no
    script runs."""
    buffer = io.BytesIO()
    static_picture(figure, dpi).savefig(buffer, format="png")
    return buffer.getvalue()


def static_picture(figure, dpi: int = 100) -> Figure:
    """:func:`static_png`'s matplotlib figure, before it becomes a PNG."""
    spec = json.loads(figure.to_json())
    layout = spec.get("layout", {})
    width, height = layout.get("width", 900) / dpi, layout.get("height", 450) / dpi
    canvas = Figure(figsize=(width, height), dpi=dpi)
    axes = {}
    for name, (xd, yd, y_axis, x_axis) in _axes_domains(layout).items():
        ax = canvas.add_axes([0.06 + 0.9 * xd[0], 0.2 + 0.68 * yd[0],
                              0.9 * (xd[1] - xd[0]) - 0.04, 0.68 * (yd[1] - yd[0])])
        ax.tick_params(labelsize=7, labelbottom=x_axis.get("showticklabels", True),
                       labelleft=y_axis.get("showticklabels", True))
        if "range" in x_axis:
            ax.set_xlim(*x_axis["range"])
        if "range" in y_axis:
            ax.set_ylim(*y_axis["range"])
        elif y_axis.get("autorange") == "reversed":
            ax.invert_yaxis()
        if "scaleanchor" in y_axis:
            ax.set_aspect("equal", adjustable="box")
        ax.set_xlabel(x_axis.get("title", {}).get("text", ""), fontsize=8)
        ax.set_ylabel(y_axis.get("title", {}).get("text", ""), fontsize=8)
        axes[name] = ax
    for trace in spec.get("data", []):
        ax = axes[trace.get("xaxis", "x")]
        kind = trace.get("type", "scatter")
        if kind == "image":
            from PIL import Image

            encoded = trace["source"].split(",", 1)[1]
            ax.imshow(np.asarray(Image.open(io.BytesIO(base64.b64decode(encoded)))), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
        elif kind == "heatmap":
            z = np.asarray(trace["z"], dtype=float)
            cmap = _colour_map(trace.get("colorscale", [[0, "#440154"], [1, "#fde725"]]))
            image = ax.imshow(z, cmap=cmap, vmin=trace.get("zmin"), vmax=trace.get("zmax"), interpolation="nearest")
            if trace.get("showscale", True):  # Plotly draws a heatmap's colour bar unless told not to
                bar = canvas.colorbar(image, ax=ax, shrink=trace.get("colorbar", {}).get("len", 1), pad=0.04)
                bar.set_label(trace.get("colorbar", {}).get("title", {}).get("text", ""), fontsize=7)
                bar.ax.tick_params(labelsize=7)
        else:
            mode = trace.get("mode", "lines")
            line, marker = trace.get("line", {}), trace.get("marker", {})
            colour = line.get("color") or marker.get("color")
            shown = trace.get("showlegend") and layout.get("showlegend")
            if trace.get("fill") == "toself":
                ax.fill(trace["x"], trace["y"], color=_rgb(trace.get("fillcolor", "lightgray")), linewidth=0,
                        label=trace.get("name") if shown else None)
                shown = False
            ax.plot(trace.get("x", []), trace.get("y", []), color=_rgb(colour) if isinstance(colour, str) else None,
                    linestyle={"dash": "--", "dot": ":"}.get(line.get("dash"), "-") if "lines" in mode else "none",
                    marker={"diamond": "D", "square": "s"}.get(marker.get("symbol"), "o") if "markers" in mode else None,
                    linewidth=line.get("width", 1.5),
                    markersize=marker.get("size", 6) / 1.5,
                    label=trace.get("name") if shown else None)
    entries = {}  # one legend along the top, over no plot, as Plotly draws it
    for ax in axes.values():
        for handle, label in zip(*ax.get_legend_handles_labels()):
            entries.setdefault(label, handle)
    if entries:
        canvas.legend(list(entries.values()), list(entries), loc="upper center", bbox_to_anchor=(0.5, 1.0),
                      ncol=min(len(entries), 6), fontsize=7, frameon=False)
    for annotation in layout.get("annotations", []):
        if annotation.get("xref") == "paper" and annotation.get("yref") == "paper":
            canvas.text(0.06 + 0.9 * annotation["x"], 0.2 + 0.68 * annotation["y"] + 0.02,
                        annotation["text"].replace("<br>", "\n"), ha="center",
                        fontsize=annotation.get("font", {}).get("size", 12) * 0.75)
    for control in layout.get("sliders", []):  # what each slider is set to, under where it sits
        step = control["steps"][control.get("active", 0)]
        canvas.text(0.06 + 0.9 * (control.get("x", 0) + control.get("len", 1) / 2), 0.08,
                    f"{control.get('currentvalue', {}).get('prefix', '')}{step['label']}", ha="center", fontsize=8)
    title = layout.get("title", {}).get("text")
    if title:
        canvas.suptitle(title, fontsize=10)
    canvas.text(0.5, 0.015, "(a picture of the interactive figure: its sliders move where scripts run)",
                ha="center", fontsize=8, color="dimgray")
    return canvas


def _style(figure, height: int, sliders: list[dict]) -> None:
    figure.update_layout(height=height, autosize=True, sliders=sliders, showlegend=False, template="plotly_white",
                         margin={"l": 50, "r": 20, "t": 50, "b": 110})


def _class_key(figure, row: int, col: int) -> None:
    """A legend of the classes' colours, on top of the figure (for pictures drawn by `outlined`)."""
    go, _ = _plotly()
    for name, colour in zip(CLASSES, class_colors(range(len(CLASSES)))):
        red, green, blue = (round(255 * value) for value in colour)
        figure.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=name, legend="legend2", showlegend=True,
                                    marker={"symbol": "square", "size": 10, "color": f"rgb({red},{green},{blue})",
                                            "line": {"color": "gray", "width": 1}}), row, col)
    figure.update_layout(showlegend=True, margin={"t": 90},
                         legend2={"orientation": "h", "x": 0, "y": 1.12, "yanchor": "bottom",
                                  "title": {"text": "predicted class:"}})


def crop_explorer(offsets: Sequence[int], mean_ius: Sequence[float], pictures: Sequence[np.ndarray],
                  derived: int) -> Interactive:
    """Chapter 5's crop: a slider over the final crop offset, showing the prediction it cuts (the
    true outlines over it) and the mean IU at every offset, the derived one marked."""
    if not len(offsets) == len(mean_ius) == len(pictures) or derived not in offsets:
        raise ValueError("crop_explorer takes one mean IU and one picture per offset, the derived one among them")
    go, make_subplots = _plotly()
    figure = make_subplots(1, 2, column_widths=[0.45, 0.55], horizontal_spacing=0.1,
                           subplot_titles=("prediction, true outlines in white", "mean IU, validation scenes"))
    uris, active = [image_uri(p) for p in pictures], list(offsets).index(derived)
    figure.add_trace(go.Image(source=uris[active]), 1, 1)
    figure.add_trace(go.Scatter(x=list(offsets), y=list(mean_ius), mode="lines", line={"color": "#1f77b4"}), 1, 2)
    figure.add_trace(go.Scatter(x=[derived, derived], y=[0, 1], mode="lines", name=f"derived crop {derived}",
                                line={"color": "gray", "dash": "dash"}), 1, 2)
    figure.add_annotation(x=derived, y=1, text=f"derived {derived}", showarrow=False, yshift=8, row=1, col=2)
    figure.add_trace(go.Scatter(x=[derived], y=[mean_ius[active]], mode="markers",
                                marker={"color": "#d62728", "size": 12}), 1, 2)
    figure.update_xaxes(showticklabels=False, row=1, col=1)
    figure.update_yaxes(showticklabels=False, row=1, col=1)
    figure.update_xaxes(title_text="final crop offset (px)", row=1, col=2)
    figure.update_yaxes(title_text="mean IU", range=[0, 1], row=1, col=2)
    updates = [{"source": [uri, None], "x": [None, [offset]], "y": [None, [iu]]}
               for uri, offset, iu in zip(uris, offsets, mean_ius)]
    _style(figure, 460, [slider("final crop", offsets, updates, [0, 3], active=active)])
    figure.update_traces(showlegend=False, selector={"type": "scatter"})
    _class_key(figure, 1, 1)
    return Interactive(figure, f"the prediction and mean IU at every final crop, the derived {derived} marked")


def coordinate_explorer(panels: Mapping[str, Mapping], image_size: int, padding: int) -> Interactive:
    """Chapter 5's coordinate map: per FCN, a slider over the pixels of the score map its last
    upsampler reads (along the diagonal), showing where that pixel sits in the input and, for each
    score layer fused there, the input pixels it reads, over the image and its padding.

    ``panels[name]`` holds ``centres`` (each pixel's input coordinate) and ``fields`` (score layer ->
    one ``(first, last)`` input pixel per pixel: the span that layer's part of the pixel reads)."""
    for name, panel in panels.items():
        if not panel["centres"] or not panel["fields"]:
            raise ValueError(f"{name}: coordinate_explorer needs centres and fields")
        if any(len(spans) != len(panel["centres"]) for spans in panel["fields"].values()):
            raise ValueError(f"{name}: one field span per pixel and score layer")
    go, make_subplots = _plotly()
    figure = make_subplots(1, len(panels), subplot_titles=list(panels), horizontal_spacing=0.06)
    colours = {"score_fr": "#1f77b4", "pool4": "#ff7f0e", "pool3": "#2ca02c"}
    spans = [span for panel in panels.values() for layer in panel["fields"].values() for span in layer]
    limits = [min(-padding, *(first for first, _ in spans)) - 20,
              max(image_size + padding, *(last for _, last in spans)) + 20]
    sliders, width, named = [], 1 / len(panels), set()

    def square(first, last):
        low, high = first - 0.5, last + 0.5
        return [low, high, high, low, low], [low, low, high, high, low]

    for column, (name, panel) in enumerate(panels.items(), start=1):
        centres, fields = list(panel["centres"]), dict(panel["fields"])
        for first, last, fill, what in ((-padding, image_size + padding - 1, "#f0f0f0", "padding"),
                                        (0, image_size - 1, "#dde3ea", "image")):
            x, y = square(first, last)
            figure.add_trace(go.Scatter(x=x, y=y, fill="toself", fillcolor=fill, mode="lines", name=what,
                                        line={"color": "gray", "width": 1}, showlegend=what not in named), 1, column)
            named.add(what)
        first_trace = len(figure.data)
        active = 0  # the first pixel: the padding and the edge's blend show there
        for layer, layer_spans in fields.items():
            x, y = square(*layer_spans[active])
            figure.add_trace(go.Scatter(x=x, y=y, mode="lines", name=f"read by {layer}", showlegend=layer not in named,
                                        line={"color": colours.get(layer, "black"), "width": 2}), 1, column)
            named.add(layer)
        figure.add_trace(go.Scatter(x=[centres[active]], y=[centres[active]], mode="markers", name="the pixel",
                                    marker={"color": "#d62728", "size": 8}, showlegend=column == 1), 1, column)
        updates = []
        for index, centre in enumerate(centres):
            squares = [square(*layer_spans[index]) for layer_spans in fields.values()]
            updates.append({"x": [s[0] for s in squares] + [[centre]], "y": [s[1] for s in squares] + [[centre]]})
        traces = list(range(first_trace, first_trace + len(fields) + 1))
        sliders.append(slider(f"{name} pixel at", [f"{c:g}" for c in centres], updates, traces, active=active,
                              x=(column - 1) * width, length=width * 0.95))
    figure.update_xaxes(range=limits, title_text="input pixel (0 = image's first)")
    figure.update_yaxes(range=limits[::-1], scaleanchor="x")
    for column in range(2, len(panels) + 1):
        figure.update_yaxes(scaleanchor=f"x{column}", row=1, col=column)
    figure.update_annotations(font_size=11)
    _style(figure, 470, sliders)
    figure.update_layout(showlegend=True, margin={"t": 90},
                         legend={"orientation": "h", "x": 0, "y": 1.1, "yanchor": "bottom"})
    return Interactive(figure, "each FCN's score pixel, its centre and the input each score layer reads for it")


@dataclass(frozen=True)
class Ruler:
    """One row of input pixels through an upsampler, on a ruler measured in input pixels: ``at`` holds
    each output pixel's input coordinate, ``tents`` one row per input pixel (its contribution alone),
    ``output`` what the layer makes of the whole row and ``interpolated`` what ``F.interpolate`` does."""
    at: np.ndarray
    tents: np.ndarray
    output: np.ndarray
    interpolated: np.ndarray


def upsampling_ruler(upsampler: nn.ConvTranspose2d, signal: torch.Tensor) -> Ruler:
    """What chapter 4's ruler draws for ``upsampler`` (one channel): computed by the layer itself, each
    input pixel alone and then the whole ``signal``, so the figure shows the layer, not a formula."""
    output = upsample_row(upsampler, signal)
    tents = torch.stack([upsample_row(upsampler, alone) for alone in torch.diag(signal)])
    to_input = geometry.layer_map(upsampler)
    interpolated = F.interpolate(signal[None, None], scale_factor=upsampler.stride[0], mode="linear",
                                 align_corners=False)[0, 0]
    return Ruler(np.array([float(to_input(i)) for i in range(len(output))]), tents.numpy(), output.numpy(),
                 interpolated.numpy())


#: The middle panel's title, which names its marks: a key would take room from the panels as it wraps,
#: and move them when a slider redraws the figure.
TENTS_TITLE = "each input's tent (a colour each) and their sum (black)<br>the inputs (red), F.interpolate (dotted)"


def kernel_explorer(factors: Sequence[int], kernels: Sequence[np.ndarray], rulers: Sequence[Ruler],
                    signal: Sequence[float], constants: Mapping[str, np.ndarray]) -> Interactive:
    """Chapter 4's upsampling: a slider over the factor shows the bilinear kernel and, on a 1-D
    ruler, each input pixel's tent and their sum, the upsampled signal; a second slider over kernels
    and strides shows an image of ones through each (its border cut off): flat, or a checkerboard.

    ``rulers[k]`` is :func:`upsampling_ruler`'s at ``factors[k]``, of the input values ``signal``
    (drawn at input pixels 0, 1, ...); ``constants`` maps a name ("uniform 3, stride 2") to its output."""
    go, make_subplots = _plotly()
    rulers = [{"at": ruler.at.tolist(), "tents": ruler.tents.tolist(), "output": ruler.output.tolist(),
               "interpolated": ruler.interpolated.tolist()} for ruler in rulers]  # plain data: JSON
    figure = make_subplots(1, 3, column_widths=[0.25, 0.45, 0.3], horizontal_spacing=0.08,
                           subplot_titles=("bilinear kernel", TENTS_TITLE, "ones through a kernel"))
    active = len(factors) // 2
    figure.add_trace(go.Heatmap(z=kernels[active].tolist(), colorscale="Viridis", showscale=False), 1, 1)
    first_tent = len(figure.data)
    tent_colours = ("#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#17becf", "#bcbd22")
    for index, tent in enumerate(rulers[active]["tents"]):
        figure.add_trace(go.Scatter(x=rulers[active]["at"], y=tent, mode="lines", name=f"input {index}'s tent",
                                    line={"width": 1, "color": tent_colours[index % len(tent_colours)]}), 1, 2)
    figure.add_trace(go.Scatter(x=rulers[active]["at"], y=rulers[active]["output"], mode="markers",
                                marker={"color": "black", "size": 5}, name="the layer's output"), 1, 2)
    figure.add_trace(go.Scatter(x=rulers[active]["at"], y=rulers[active]["interpolated"], mode="lines",
                                line={"color": "gray", "dash": "dot", "width": 1.5}, name="F.interpolate"), 1, 2)
    figure.add_trace(go.Scatter(x=list(range(len(signal))), y=list(signal), mode="markers",
                                marker={"color": "#d62728", "size": 11, "symbol": "diamond"}, name="input pixels"),
                     1, 2)
    names = list(constants)
    middle = len(names) // 2
    figure.add_trace(go.Heatmap(z=constants[names[middle]].tolist(), zmin=0, zmax=2,
                                colorscale=[[0, "black"], [1, "white"]],
                                colorbar={"len": 0.7, "thickness": 12, "title": {"text": "value"}}), 1, 3)
    ones = len(figure.data) - 1  # the trace the kernel slider changes
    tents = len(rulers[active]["tents"])
    updates = [{"z": [kernel.tolist()] + [None] * (tents + 2), "x": [None] + [ruler["at"]] * (tents + 2),
                "y": [None] + list(ruler["tents"]) + [ruler["output"], ruler["interpolated"]]}
               for kernel, ruler in zip(kernels, rulers)]
    moved = [0] + list(range(first_tent, first_tent + tents + 1)) + [first_tent + tents + 1]
    factor_slider = slider("factor", factors, updates, moved, active=active, x=0, length=0.6)
    kernel_slider = slider("kernel", names, [{"z": [constants[name].tolist()]} for name in names],
                           [ones], active=middle, x=0.68, length=0.32)
    figure.update_yaxes(autorange="reversed", scaleanchor="x", row=1, col=1)
    figure.update_yaxes(autorange="reversed", scaleanchor="x3", row=1, col=3)
    figure.update_xaxes(title_text="input pixel", row=1, col=2)
    figure.update_yaxes(title_text="value", row=1, col=2)
    figure.update_annotations(font_size=11)
    _style(figure, 440, [factor_slider, kernel_slider])
    figure.update_layout(margin={"t": 70})  # room for the middle title's two lines
    return Interactive(figure, "the bilinear kernel, its tents and their sum at each factor; kernels on ones")


def side_by_side(pictures: Sequence[np.ndarray], gap: int = 6) -> np.ndarray:
    """Pictures of one height in a row, a grey gap between them, so that scenes stay apart."""
    pictures = [np.asarray(p) for p in pictures]
    if len({p.shape[0] for p in pictures}) != 1:
        raise ValueError(f"side_by_side takes pictures of one height, got {[p.shape for p in pictures]}")
    spacer = np.full((pictures[0].shape[0], gap, 3), 128, dtype=np.uint8)
    row = [pictures[0]]
    for picture in pictures[1:]:
        row += [spacer, picture]
    return np.hstack(row)


def skip_explorer(weights: Sequence[float], pictures: Mapping[str, Sequence[Sequence[np.ndarray]]],
                  mean_ius: Mapping[str, Sequence[float]], levels: Mapping[str, float] | None = None) -> Interactive:
    """Chapter 7's skips: one slider per skip over the share of its learned contribution kept,
    showing the fused prediction on a few scenes (``pictures[skip][step]``, one per scene; the first
    slider opens at its first step, the second at its last) and the
    mean IU at every share, with ``levels`` (name -> mean IU) drawn across for comparison. The first
    skip is scaled with the second off; the second with the first at its learned weight."""
    if list(pictures) != list(mean_ius) or len(pictures) != 2:
        raise ValueError("skip_explorer takes pictures and mean IUs for the same two skips")
    go, make_subplots = _plotly()
    names = list(pictures)
    pictures = {name: [side_by_side(scenes) for scenes in steps] for name, steps in pictures.items()}
    figure = make_subplots(2, 2, column_widths=[0.62, 0.38], vertical_spacing=0.16, horizontal_spacing=0.1,
                           specs=[[{}, {"rowspan": 2}], [{}, None]],
                           subplot_titles=(names[0], "mean IU, validation scenes", names[1]))
    opens = (0, len(weights) - 1)  # the coarse term alone above, the trained net below
    for row, (name, active) in enumerate(zip(names, opens), start=1):
        figure.add_trace(go.Image(source=image_uri(pictures[name][active])), row, 1)
    colours = ("#1f77b4", "#2ca02c")
    for name, colour in zip(names, colours):
        figure.add_trace(go.Scatter(x=list(weights), y=list(mean_ius[name]), mode="lines", name=name,
                                    line={"color": colour}, showlegend=True), 1, 2)
    for name, colour, active in zip(names, colours, opens):
        figure.add_trace(go.Scatter(x=[weights[active]], y=[mean_ius[name][active]], mode="markers",
                                    marker={"color": colour, "size": 12}), 1, 2)
    sliders = []
    for index, (name, x, active) in enumerate(zip(names, (0.0, 0.5), opens)):
        updates = [{"source": [image_uri(p), None], "x": [None, [w]], "y": [None, [iu]]}
                   for p, w, iu in zip(pictures[name], weights, mean_ius[name])]
        sliders.append(slider(f"share kept of the {name.split(',')[0]}", weights, updates, [index, 4 + index],
                              active=active, x=x, length=0.45))
    for (name, level), colour in zip((levels or {}).items(), ("gray", "#8c564b", "#9467bd")):
        figure.add_trace(go.Scatter(x=[weights[0], weights[-1]], y=[level, level], mode="lines", name=name,
                                    line={"color": colour, "dash": "dash", "width": 1}, showlegend=True), 1, 2)
    figure.update_xaxes(title_text="share of the learned skip kept", row=1, col=2)
    figure.update_annotations(font_size=11)
    _style(figure, 560, sliders)
    figure.update_yaxes(range=[0, 1], title_text="mean IU", row=1, col=2)
    for row in (1, 2):
        figure.update_xaxes(showticklabels=False, row=row, col=1)
        figure.update_yaxes(showticklabels=False, row=row, col=1)
    figure.update_layout(showlegend=True, legend={"x": 0.64, "xanchor": "left", "y": 1, "yanchor": "top"})
    figure.update_traces(showlegend=False, selector={"mode": "markers"})
    _class_key(figure, 1, 1)
    return Interactive(figure, "the fused prediction as each skip's contribution is scaled from 0 to learned")


class PlotlyDataInTheBook:
    """A MyST-NB mime renderer (its entry point is in pyproject.toml): the book shows a figure's HTML
    form, so the Plotly data form, which MyST-NB does not know, renders to nothing instead of a
    warning that would stop the build (-W)."""

    mime_priority_overrides = ()

    @staticmethod
    def handle_mime(renderer, data, inline: bool):
        return [] if data.mime_type == PLOTLY_MIME else None


def setup(app):
    """Sphinx extension: ship the installed plotly.js with the book and load it on every page,
    so the interactive figures run offline (as sphinx-mathjax-offline does for MathJax)."""
    import plotly

    source = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"

    def copy(app, exception):
        if exception is None and app.builder.format == "html":
            static = Path(app.outdir) / "_static"
            static.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, static / "plotly.min.js")

    app.add_js_file("plotly.min.js")
    app.connect("build-finished", copy)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
