"""The shared plots: right size, not blank, and the data's labels in the SVG text."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from causalnet.errors import CausalnetInputError
from viz import accuracy_curves, faithfulness_curves, heatmap, kept_units_bars, stability_bars
from viz._io import DPI


def png_ok(path, inches):
    image = Image.open(path)
    image.load()
    assert image.size == (round(inches[0] * DPI), round(inches[1] * DPI))
    assert np.asarray(image.convert("L"), dtype=float).std() > 0


def test_heatmap_rows_units_columns_classes(small_graph, tmp_path):
    svg = heatmap(small_graph, tmp_path / "h.svg").read_text()
    for unit in small_graph.units():
        assert f">{unit}<" in svg                      # few rows: every unit is labelled
    png = heatmap(small_graph, tmp_path / "h.png", top=3)
    image = Image.open(png)
    assert np.asarray(image.convert("L"), dtype=float).std() > 0
    with pytest.raises(CausalnetInputError, match="its classes"):
        heatmap(small_graph, tmp_path / "x.png", classes=[5])


def test_heatmap_of_many_units_labels_layers(resnet_graph, tmp_path):
    svg = heatmap(resnet_graph, tmp_path / "h.svg").read_text()
    assert ">layer3.0.conv2<" in svg and ">layer3.0.conv2:0<" not in svg


def test_kept_units_bars(tmp_path):
    out = kept_units_bars({"conv1": 16, "layer1": 32}, {"conv1": 8}, tmp_path / "k.png")
    png_ok(out, (max(5.0, 0.55 * 2 + 2.0), 4.0))
    svg = kept_units_bars({"conv1": 16, "layer1": 32}, {"conv1": 8}, tmp_path / "k.svg").read_text()
    assert "48 -&gt; 8" in svg and ">layer1<" in svg


def test_accuracy_curves_one_line_per_method(tmp_path):
    rows = [{"method": m, "params_frac": f, "macs_frac": f * 0.9, "accuracy": a}
            for m, shift in (("cswap", 0.0), ("l1", 0.05))
            for f, a in ((1.0, 0.99), (0.5, 0.97 - shift), (0.25, 0.9 - shift))]
    png_ok(accuracy_curves(rows, tmp_path / "a.png", baseline=0.99), (6.0, 4.2))
    svg = accuracy_curves(rows, tmp_path / "a.svg", x="macs_frac").read_text()
    assert ">cswap<" in svg and ">l1<" in svg and "fraction of MACs kept" in svg
    with pytest.raises(CausalnetInputError):
        accuracy_curves([{"method": "x", "accuracy": 1.0}], tmp_path / "b.png")


def test_stability_and_faithfulness(tmp_path):
    png_ok(stability_bars({"causal": [0.8, 0.9], "saliency": 0.4}, tmp_path / "s.png"), (4.0, 4.0))
    svg = faithfulness_curves({"causal": [1.0, 0.5, 0.0], "random": [1.0, 1.0, 1.0]},
                              tmp_path / "f.svg").read_text()
    assert "causal (area 0.500)" in svg and "random (area 1.000)" in svg
    with pytest.raises(CausalnetInputError, match="x has"):
        faithfulness_curves({"a": [1, 2]}, tmp_path / "g.png", x=[0, 0.5, 1])
    with pytest.raises(CausalnetInputError, match="png, svg, pdf"):
        stability_bars({"a": 1.0}, tmp_path / "s.jpg")
