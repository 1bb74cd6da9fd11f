"""The layered layout: ranks, collapsing, class views (pure Python, no drawing)."""

from __future__ import annotations

import pytest

from causalnet.errors import CausalnetInputError
from viz.layout import SUMMARY, layout


def test_one_rank_per_layer_input_to_logits(small_graph):
    lay = layout(small_graph)
    assert lay.ranks == ["conv1", "fc1", "logit"]
    assert sorted(lay.graph_node_ids()) == sorted(small_graph.nx.nodes)
    x = {n.id: n.x for n in lay.nodes}
    assert x["conv1:0"] < x["fc1:0"] < x["logit:0"]
    assert all(x[e.source] < x[e.target] for e in lay.edges)   # every edge points forward
    assert lay.collapsed == {}


def test_collapsed_layer_keeps_top_units_and_folds_edges(small_graph):
    lay = layout(small_graph, top=2)
    summary = lay.node("more:conv1")
    assert summary.kind == SUMMARY and summary.label == "conv1 (+2 more)"
    # conv1:0 (|log 0.4|) and conv1:2 (|log 1.3|) have the largest effects
    assert {n.id for n in lay.nodes if n.layer == "conv1" and n.kind != SUMMARY} == {"conv1:0", "conv1:2"}
    assert sorted(summary.hidden) == ["conv1:1", "conv1:3"]
    assert lay.collapsed == {"conv1": 2}
    folded = {(e.source, e.target): e for e in lay.edges}
    assert folded["more:conv1", "fc1:0"].merged == 1 and folded["more:conv1", "fc1:1"].merged == 1


def test_class_units_are_drawn_first_and_highlighted(small_graph):
    lay = layout(small_graph, cls=1, top=2)
    shown = {n.id for n in lay.nodes if n.layer == "conv1" and n.kind != SUMMARY}
    assert shown == {"conv1:2", "conv1:3"}                     # class 1's causes
    assert {n.id for n in lay.nodes if n.highlighted} == {"conv1:2", "conv1:3", "fc1:1", "logit:1"}
    assert {(e.source, e.target) for e in lay.edges if e.highlighted} == {
        ("conv1:2", "fc1:1"), ("conv1:3", "fc1:1"), ("fc1:1", "logit:1")}
    assert lay.node("conv1:2").effect == pytest.approx(0.2)     # class effect, not log xi


def test_only_class_draws_the_subgraph(small_graph):
    lay = layout(small_graph, cls=0, only_class=True)
    assert sorted(lay.graph_node_ids()) == ["conv1:0", "conv1:1", "fc1:0", "logit:0"]
    assert len(lay.edges) == 3


def test_bad_arguments_are_input_errors(small_graph):
    with pytest.raises(CausalnetInputError, match="its classes: 0, 1"):
        layout(small_graph, cls=7)
    with pytest.raises(CausalnetInputError, match="top"):
        layout(small_graph, top=0)
    with pytest.raises(CausalnetInputError, match="needs a class"):
        layout(small_graph, only_class=True)


def test_resnet_layers_collapse_and_edges_point_forward(resnet_graph):
    lay = layout(resnet_graph, top=12)
    assert len(lay.ranks) == len(resnet_graph.layer_names()) + 1
    assert lay.collapsed["layer3.0.conv2"] == 64 - 12 and lay.collapsed["conv1"] == 4
    drawn_per_layer = {}
    for n in lay.nodes:
        if n.kind == "unit":
            drawn_per_layer[n.layer] = drawn_per_layer.get(n.layer, 0) + 1
    assert max(drawn_per_layer.values()) == 12
    rank = {n.id: n.rank for n in lay.nodes}
    assert all(rank[e.source] < rank[e.target] for e in lay.edges)
