"""Causal saliency (causalnet.explain) on the zoo LeNet and the explanation figure."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from PIL import Image

import causalnet
from causalnet.builder import build_graph
from causalnet.errors import CausalnetInputError, ModelMismatchError
from causalnet.explain import causal_saliency, saliency_source
from causalnet.graph import CausalGraph


@pytest.fixture(scope="module")
def lenet():
    return causalnet.load_model("zoo:lenet5")


@pytest.fixture(scope="module")
def images(mnist_small):
    x, y = mnist_small
    return x[y == 3][:6]


@pytest.fixture(scope="module")
def tiny_graph(lenet, mnist_small):
    """A real class-3 graph of the zoo LeNet from 300 MNIST test images (a few seconds)."""
    return build_graph(lenet, mnist_small, classes=[3], samples_per_class=20,
                       calibration_per_class=5)


def check_maps(maps, n):
    assert maps.shape == (n, 28, 28)
    assert torch.isfinite(maps).all() and (maps >= 0).all()
    torch.testing.assert_close(maps.sum(dim=(1, 2)), torch.ones(n), atol=1e-4, rtol=0)
    assert (maps.flatten(1).std(dim=1) > 0).all()                 # not uniform


def test_saliency_of_a_built_graph(lenet, tiny_graph, images):
    maps = causal_saliency(lenet, tiny_graph, images, 3)
    check_maps(maps, len(images))
    assert saliency_source(lenet, tiny_graph, 3) in ("edges", "units", "class_effects")


def test_saliency_through_conv_edges(lenet, tiny_graph, images):
    g = CausalGraph(copy.deepcopy(tiny_graph.nx))
    g.add_edge("conv1:0", "conv2:4", 3, effect=1.0, rel_effect=0.1, z=2.0, p=0.02, mode="edge")
    g.add_edge("conv1:5", "conv2:4", 3, effect=3.0, rel_effect=0.2, z=5.0, p=1e-6, mode="edge")
    assert [(u, v) for u, v in g.nx.edges if u.startswith("conv") and v.startswith("conv")] == [
        ("conv1:0", "conv2:4"), ("conv1:5", "conv2:4")]
    assert saliency_source(lenet, g, 3) == "edges"
    maps = causal_saliency(lenet, g, images, 3)
    check_maps(maps, len(images))
    # by hand: conv1's maps (conv2's input) through conv2.weight[4, p], spatial softmax, upsampled
    feats = {}
    handle = lenet.conv2.register_forward_pre_hook(lambda m, a: feats.setdefault("x", a[0]))
    with torch.no_grad():
        lenet(images)
    handle.remove()
    expected = 0
    for p in (0, 5):
        child = torch.nn.functional.conv2d(feats["x"][:, p:p + 1], lenet.conv2.weight[4:5, p:p + 1])
        soft = torch.softmax(child.flatten(1), 1).view(child.shape)
        up = torch.nn.functional.interpolate(soft, size=(28, 28), mode="bilinear")[:, 0]
        expected = expected + up / up.sum(dim=(1, 2), keepdim=True) / 2
    torch.testing.assert_close(maps, expected, atol=1e-6, rtol=1e-4)


def test_saliency_checks_model_and_class(lenet, tiny_graph, images):
    with pytest.raises(CausalnetInputError, match="its classes: 3"):
        causal_saliency(lenet, tiny_graph, images, 4)
    other = causalnet.load_model("zoo:lenet5")
    with torch.no_grad():
        other.conv1.weight.add_(0.1)
    with pytest.raises(ModelMismatchError):
        causal_saliency(other, tiny_graph, images, 3)


def test_explanation_figure(lenet, tiny_graph, images, tmp_path):
    from viz import explanation_figure

    out = explanation_figure(lenet, tiny_graph, images[:2], 3, tmp_path / "e.png")
    image = Image.open(out)
    assert image.size[0] > image.size[1] > 100
    assert np.asarray(image.convert("L"), dtype=float).std() > 0


def test_saliency_from_class_units_without_conv_edges(lenet, tiny_graph, images):
    g = CausalGraph(copy.deepcopy(tiny_graph.nx))
    g.add_edge("conv2:4", "fc1:8", 3, effect=0.5, rel_effect=0.1, z=2.0, p=0.02, mode="edge")
    assert saliency_source(lenet, g, 3) == "units"
    maps = causal_saliency(lenet, g, images, 3)
    check_maps(maps, len(images))
    # conv2's first reader is fc1: its flattened input, reshaped to 16 maps of 5 x 5
    feats = {}
    handle = lenet.fc1.register_forward_pre_hook(lambda m, a: feats.setdefault("x", a[0]))
    with torch.no_grad():
        lenet(images)
    handle.remove()
    unit = feats["x"].view(len(images), 16, 5, 5)[:, 4:5]
    soft = torch.softmax(unit.flatten(1), 1).view(unit.shape)
    up = torch.nn.functional.interpolate(soft, size=(28, 28), mode="bilinear")[:, 0]
    torch.testing.assert_close(maps, up / up.sum(dim=(1, 2), keepdim=True), atol=1e-6, rtol=1e-4)
