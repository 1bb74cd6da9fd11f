"""The metrics and mechanics the explanation benchmark wrote itself, on toy cases whose answer is
known by hand (benchmarks/_explain_metrics.py, benchmarks/_explain_units.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from benchmarks._explain_metrics import (
    area,
    deletion_insertion,
    irof,
    k_of,
    spearman,
    top_k,
    topk_jaccard,
)
from benchmarks.attribution_stability import disjoint_splits

sig = lambda z: 1 / (1 + math.exp(-z))  # noqa: E731


def test_rank_agreement():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert math.isnan(spearman([1, 1, 1], [1, 2, 3]))
    assert top_k([0.1, 0.9, 0.5, 0.9], 2) == {1, 3}
    assert k_of(0.05, 10) == 1 and k_of(0.2, 84) == 17 and k_of(1.0, 6) == 6
    assert topk_jaccard([4, 3, 2, 1], [4, 3, 2, 1], 0.5) == 1.0
    assert topk_jaccard([4, 3, 2, 1], [1, 2, 3, 4], 0.5) == 0.0
    assert topk_jaccard([4, 3, 2, 1], [4, 1, 3, 2], 0.5) == pytest.approx(1 / 3)


def test_area_is_mean_height_on_unit_interval():
    assert area([0, 1]) == pytest.approx(0.5)
    assert area([1, 1, 1]) == pytest.approx(1.0)
    assert area([0, 2, 2], xs=[0, 0.25, 1]) == pytest.approx((0.25 * 1 + 0.75 * 2) / 1)
    assert area([0, 1], xs=[0, 0.5]) == pytest.approx(0.5)  # x rescaled to [0, 1]


class _Linear2x2(nn.Module):
    """Class 0 logit = sum(w * x) + b over a 1x2x2 image; class 1 logit = 0."""

    def __init__(self, w, b=0.0):
        super().__init__()
        self.w = torch.tensor(w, dtype=torch.float32).view(1, 1, 2, 2)
        self.b = b

    def forward(self, x):
        z = (x * self.w).sum((1, 2, 3)) + self.b
        return torch.stack([z, torch.zeros_like(z)], 1)


def test_deletion_insertion_curves_by_hand():
    model = _Linear2x2([[3, 2], [1, 0]])
    x, y = torch.ones(1, 1, 2, 2), torch.tensor([0])
    good = torch.tensor([[[3.0, 2.0], [1.0, 0.0]]])          # the true contributions
    dele, ins = deletion_insertion(model, x, y, good, steps=4, baseline=0.0)
    np.testing.assert_allclose(dele[0], [sig(z) for z in (6, 3, 1, 0, 0)], rtol=1e-6)
    np.testing.assert_allclose(ins[0], [sig(z) for z in (0, 3, 5, 6, 6)], rtol=1e-6)
    bad_dele, bad_ins = deletion_insertion(model, x, y, -good, steps=4, baseline=0.0)
    np.testing.assert_allclose(bad_dele[0], [sig(z) for z in (6, 6, 5, 3, 0)], rtol=1e-6)
    # the faithful attribution deletes faster and inserts faster
    assert area(dele[0]) < area(bad_dele[0]) and area(ins[0]) > area(bad_ins[0])


def test_irof_by_hand():
    # logit 0 = 4 * (left column) - 4: only the left superpixel matters
    model = _Linear2x2([[4, 0], [4, 0]], b=-4.0)
    x = torch.tensor([[[[1.0, 0.0], [1.0, 0.0]]]])            # image mean 0.5
    y = torch.tensor([0])
    seg = [np.array([[0, 1], [0, 1]])]
    r = 0.5 / sig(4)                                           # p after the left column is 0.5
    left_first = irof(model, x, y, torch.tensor([[[1.0, 0.0], [1.0, 0.0]]]), segments=seg)
    right_first = irof(model, x, y, torch.tensor([[[0.0, 1.0], [0.0, 1.0]]]), segments=seg)
    assert left_first[0] == pytest.approx(1 - (0.25 * (1 + r) + 0.5 * r))
    assert right_first[0] == pytest.approx(1 - (0.5 + 0.25 * (1 + r)))
    assert left_first[0] > right_first[0]


def test_irof_default_segments_are_slic_superpixels():
    pytest.importorskip("skimage")
    from benchmarks._explain_metrics import superpixels

    img = np.zeros((1, 28, 28))
    img[0, :, 14:] = 1.0
    seg = superpixels(img)
    labels = np.unique(seg)
    assert seg.shape == (28, 28) and labels.tolist() == list(range(len(labels)))
    assert 4 < len(labels) <= 100   # SLIC's default asks for 100 segments


def test_disjoint_splits_are_balanced_and_disjoint():
    y = torch.tensor([0] * 10 + [1] * 10 + [2] * 10)
    parts = disjoint_splits(y, 5)
    flat = torch.cat(parts).tolist()
    assert sorted(flat) == list(range(30))
    assert all(torch.bincount(y[p], minlength=3).tolist() == [2, 2, 2] for p in parts)


@pytest.fixture(scope="module")
def lenet(mnist_small):
    from benchmarks._explain_units import working_copy
    from causalnet.zoo import load_zoo_model

    x, y = mnist_small
    net, units = working_copy(load_zoo_model("lenet5"), x[:1])
    return net, units, x, y


def test_removal_hook_removes_exactly_the_units(lenet):
    """All of fc2 removed: the logits are fc3's bias; none removed: the clean logits."""
    from benchmarks._explain_units import removal_curve

    net, units, x, y = lenet
    layer = units.layer("fc2")
    xc = x[y == 3][:5]
    rows = removal_curve(net, layer, np.arange(layer.size, dtype=float), xc, 3, [0.0, 1.0])
    clean = net(xc)[:, 3].mean().item()
    assert rows[0]["k"] == 0 and rows[0]["logit_drop"] == 0.0
    assert rows[1]["k"] == layer.size
    assert rows[1]["logit_drop"] == pytest.approx(clean - net.fc3.bias[3].item(), abs=1e-4)


def test_feature_ablation_scores_match_single_unit_removal(lenet):
    """Captum's LayerFeatureAblation on a flattened conv layer (several inputs per unit) gives
    the logit drop of removing each unit alone: checks the layer mask."""
    from benchmarks._explain_units import captum_scores
    from causalnet.masking import switched_off

    net, units, x, y = lenet
    layer = units.layer("conv2")
    xc = x[y == 3][:4]
    got = captum_scores(net, layer, xc, 3, "LayerFeatureAblation")
    with torch.no_grad():
        clean = net(xc)[:, 3]
        want = []
        for u in range(layer.size):
            with switched_off([layer], {layer.name: [u]}):
                want.append((clean - net(xc)[:, 3]).mean().item())
    np.testing.assert_allclose(got, want, atol=1e-4)


def test_causal_scores_equal_the_graph_class_effects(lenet):
    """The benchmark's causal ranking is minus the class effects `causalnet build` stores."""
    from benchmarks._explain_units import causal_class_scores
    from causalnet.builder import build_graph

    net, units, x, y = lenet
    idx = torch.cat([torch.nonzero(y == c)[:3, 0] for c in range(10)])
    xs, ys = x[idx], y[idx]
    ours = causal_class_scores(net, units, xs, ys, ["conv2", "fc1"])
    graph = build_graph(net, (xs, ys), class_graphs=False, calibration_per_class=3)
    for name in ("conv2", "fc1"):
        for c in (0, 3, 9):
            want = [-graph.node(n)["class_effects"][c] for n in graph.units(name)]
            np.testing.assert_allclose(ours[name][c], want, atol=1e-4)
