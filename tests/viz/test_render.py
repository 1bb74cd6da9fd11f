"""render(): Graphviz output and the matplotlib fallback draw the same nodes, in the right colours."""

from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image

from causalnet.errors import CausalnetInputError
from viz.layout import layout
from viz.render import (
    CRITICAL_COLOR,
    DETRIMENTAL_COLOR,
    NEUTRAL_COLOR,
    PNG_DPI,
    figure_size,
    render,
)

from .helpers import needs_graphviz

SVG_NS = "{http://www.w3.org/2000/svg}"


def svg_nodes(path) -> dict[str, str]:
    """Drawn node id -> its label text, for elements with id "node-<id>" in an SVG file."""
    root = ET.parse(path).getroot()
    return {el.get("id")[5:]: " ".join(t.text or "" for t in el.iter(f"{SVG_NS}text"))
            for el in root.iter() if (el.get("id") or "").startswith("node-")}


def svg_node_ids(path) -> set[str]:
    return set(svg_nodes(path))


@pytest.fixture
def no_graphviz(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)


def assert_not_blank(path, size=None):
    image = Image.open(path)
    image.load()
    if size is not None:
        assert abs(image.size[0] - size[0]) <= 2 and abs(image.size[1] - size[1]) <= 2, image.size
    assert np.asarray(image.convert("L"), dtype=float).std() > 0


def test_dot_text_needs_no_graphviz(small_graph, tmp_path, no_graphviz, capsys):
    out = render(small_graph, tmp_path / "g.dot")
    text = out.read_text()
    assert text.startswith("digraph")
    for node in small_graph.nx.nodes:
        assert f'"node-{node}"' in text
    for color in (CRITICAL_COLOR, NEUTRAL_COLOR, DETRIMENTAL_COLOR):
        assert color in text
    assert "penwidth" in text and "rank=same" in text
    assert capsys.readouterr().err == ""          # no fallback notice: DOT needs no binary


@needs_graphviz
def test_graphviz_svg_has_every_node_and_category_colours(small_graph, tmp_path):
    out = render(small_graph, tmp_path / "g.svg")
    assert svg_node_ids(out) == set(small_graph.nx.nodes)
    text = out.read_text().lower()
    for color in (CRITICAL_COLOR, NEUTRAL_COLOR, DETRIMENTAL_COLOR):
        assert color in text


@needs_graphviz
def test_graphviz_png_has_the_svg_size_and_is_not_blank(small_graph, tmp_path):
    svg = render(small_graph, tmp_path / "g.svg")
    png = render(small_graph, tmp_path / "g.png")
    root = ET.parse(svg).getroot()
    pt = [float(root.get(k).removesuffix("pt")) for k in ("width", "height")]
    assert_not_blank(png, size=[p * PNG_DPI / 72 for p in pt])


@needs_graphviz
def test_graphviz_pdf(small_graph, tmp_path):
    assert render(small_graph, tmp_path / "g.pdf").read_bytes().startswith(b"%PDF")


def test_matplotlib_fallback_draws_the_same_nodes(small_graph, tmp_path, no_graphviz, capsys):
    out = render(small_graph, tmp_path / "g.svg", cls=0)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Graphviz 'dot' not found" in err
    assert svg_node_ids(out) == set(small_graph.nx.nodes)
    text = out.read_text().lower()
    for color in (CRITICAL_COLOR, NEUTRAL_COLOR, DETRIMENTAL_COLOR):
        assert color in text
    png = render(small_graph, tmp_path / "g.png")
    width, height = figure_size(layout(small_graph))
    assert_not_blank(png, size=(width * PNG_DPI, height * PNG_DPI))
    assert render(small_graph, tmp_path / "g.pdf").read_bytes().startswith(b"%PDF")


def test_resnet_collapsed_layers_show_more_in_both_back_ends(resnet_graph, tmp_path, monkeypatch):
    lay = layout(resnet_graph, top=5)
    expected = {n.id for n in lay.nodes}
    more = {f"{layer} (+{n} more)" for layer, n in lay.collapsed.items()}
    assert "layer3.0.conv2 (+59 more)" in more
    outputs = [render(resnet_graph, tmp_path / "r.dot", top=5)]
    if shutil.which("dot"):
        outputs.append(render(resnet_graph, tmp_path / "r.svg", top=5))
    monkeypatch.setattr(shutil, "which", lambda name: None)
    outputs.append(render(resnet_graph, tmp_path / "r_mpl.svg", top=5))
    assert all(label in outputs[0].read_text() for label in more)
    for out in outputs[1:]:
        nodes = svg_nodes(out)
        assert set(nodes) == expected, out.name
        assert {nodes[f"more:{layer}"] for layer in lay.collapsed} == more, out.name


def test_color_by_effect_uses_the_diverging_map(small_graph, tmp_path):
    text = render(small_graph, tmp_path / "e.dot", cls=0, color_by="effect").read_text()
    fills = dict(re.findall(r'id="node-(conv1:\d)"[^\n]*fillcolor="(#[0-9a-f]{6})', text))
    red = tuple(int(fills["conv1:0"][i:i + 2], 16) for i in (1, 3, 5))
    blue = tuple(int(fills["conv1:2"][i:i + 2], 16) for i in (1, 3, 5))
    assert red[0] > red[2] and blue[2] > blue[0]    # supports class 0: red; works against: blue


def test_format_errors(small_graph, tmp_path):
    with pytest.raises(CausalnetInputError, match="unknown format"):
        render(small_graph, tmp_path / "g.jpg")
    with pytest.raises(CausalnetInputError, match="suffix"):
        render(small_graph, tmp_path / "noext")
    with pytest.raises(CausalnetInputError, match="color_by"):
        render(small_graph, tmp_path / "g.dot", color_by="rainbow")
    assert not list(tmp_path.iterdir())
