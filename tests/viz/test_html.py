"""The HTML explorer: self-contained, and (in headless Chromium) draws every laid-out node."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from PIL import Image

from causalnet.errors import CausalnetInputError
from viz import write_html
from viz.layout import layout

from .helpers import needs_chromium, run_chromium

SVG_NAMESPACE = "http://www.w3.org/2000/svg"   # a name, never fetched


def embedded_data(page: str) -> dict:
    match = re.search(r'<script id="graph-data" type="application/json">(.*?)</script>', page, re.S)
    return json.loads(match.group(1))


def test_page_is_self_contained(resnet_graph, tmp_path):
    page = write_html(resnet_graph, tmp_path / "g.html").read_text()
    assert page.count("<script") == 2                          # the data and the inline viewer
    assert not re.search(r"<script[^>]*\bsrc=", page)
    assert not re.search(r"<link\b", page) and "@import" not in page
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", page))
    assert urls <= {SVG_NAMESPACE}, urls                       # no CDN, no remote script or font
    data = embedded_data(page)
    lay = layout(resnet_graph)
    assert [n["id"] for n in data["nodes"]] == [n.id for n in lay.nodes]
    assert len(data["edges"]) == len(lay.edges)
    assert data["total_nodes"] == resnet_graph.nx.number_of_nodes()
    assert {n["label"] for n in data["nodes"] if n["kind"] == "summary"} >= {
        "layer3.0.conv2 (+52 more)"}


def test_node_data_carries_the_tooltip_statistics(small_graph, tmp_path):
    page = write_html(small_graph, tmp_path / "g.html", cls=1).read_text()
    assert '<option value="1" selected>class 1</option>' in page
    node = {n["id"]: n for n in embedded_data(page)["nodes"]}["conv1:0"]
    assert node["stats"]["xi"] == pytest.approx(0.4) and node["stats"]["category"] == "critical"
    assert node["stats"]["class_effects"] == {"0": -1.2, "1": -0.1}
    assert node["classes"] == [0] and node["fill"] == "#d62728"
    with pytest.raises(CausalnetInputError, match="its classes"):
        write_html(small_graph, tmp_path / "x.html", cls=9)


def test_script_breaking_text_in_ids_is_escaped(small_graph, tmp_path):
    small_graph.add_unit("</script><b>x", layer="fc1", index=2, kind="linear_neuron",
                         group="fc1", order=1, xi=0.9, category="neutral")
    page = write_html(small_graph, tmp_path / "g.html").read_text()
    assert "</script><b>" not in page
    assert "</script><b>x" in [n["id"] for n in embedded_data(page)["nodes"]]


@needs_chromium
def test_chromium_draws_every_node_and_a_visible_picture(resnet_graph, tmp_path):
    page = write_html(resnet_graph, tmp_path / "g.html", top=6)
    drawn = layout(resnet_graph, top=6).graph_node_ids()
    result = run_chromium(page, "--dump-dom")
    assert result.returncode == 0, result.stderr[-2000:]
    dom = result.stdout
    ids = re.findall(r'data-node="([^"]*)"', dom)
    assert len(ids) == len(drawn) and set(ids) == set(drawn)
    assert re.search(r'id="node-count">(\d+)<', dom).group(1) == str(len(drawn))
    assert len(re.findall(r"data-summary=", dom)) == 12       # every ResNet-20 layer collapsed
    shot = tmp_path / "shot.png"
    result = run_chromium(page, f"--screenshot={shot}", "--window-size=1200,800")
    assert result.returncode == 0 and shot.exists(), result.stderr[-2000:]
    image = Image.open(shot)
    assert image.size == (1200, 800)
    pixels = np.asarray(image.convert("L"), dtype=float)
    assert pixels.std() > 5
    assert (pixels[200:700] < 200).mean() > 0.002            # drawn nodes and edges, not a blank canvas
