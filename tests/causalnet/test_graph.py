"""CausalGraph and its formats, on a tiny hand-built graph (no models, no data)."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from causalnet.errors import GraphFormatError, ModelMismatchError
from causalnet.fingerprint import model_fingerprint
from causalnet.graph import SCHEMA_VERSION, CausalGraph
from causalnet.graph_io import (
    PYG_EDGE_FEATURES,
    PYG_NODE_FEATURES,
    load_graphml,
    load_json,
    save_json,
    to_json_dict,
    to_pyg,
)

UNITS = [  # id, layer, index, order, xi, category
    ("conv1:0", "conv1", 0, 0, 0.8, "critical"),
    ("conv1:1", "conv1", 1, 0, 0.1, "neutral"),
    ("conv1:2", "conv1", 2, 0, -0.3, "detrimental"),
    ("fc1:0", "fc1", 0, 1, 0.5, "critical"),
    ("fc1:1", "fc1", 1, 1, float("nan"), None),
]
EDGES = [  # u, v, class, effect
    ("conv1:0", "fc1:0", 0, 0.4),
    ("conv1:1", "fc1:0", 0, 0.2),
    ("fc1:0", "logit:0", 0, 1.5),
    ("conv1:0", "fc1:0", 1, 0.3),
    ("conv1:0", "fc1:1", 1, 0.25),
    ("fc1:1", "logit:1", 1, 0.9),
]


def make_graph(reverse: bool = False) -> CausalGraph:
    """Two unit layers, three logits, edges for classes 0 and 1 (class 2 has no causes)."""
    g = CausalGraph(
        model={"spec": "tiny", "fingerprint": "sha256:" + "0" * 64, "architecture": "Tiny",
               "num_classes": 3, "input_shape": [1, 28, 28]},
        data={"spec": "mnist", "samples_per_class": 10, "calibration_per_class": 5},
        settings={"alpha": 0.05, "seed": 0, "classes": [0, 1, 2]},
        layers=[{"name": "conv1", "kind": "conv", "size": 3, "order": 0, "group": "conv1",
                 "readers": ["fc1"]},
                {"name": "fc1", "kind": "linear", "size": 2, "order": 1, "group": "fc1",
                 "readers": []}],
        versions={"torch": str(torch.__version__)}, created="2024-01-02",
        class_graphs={"0": {"n_samples": 10, "layers_tested": [{"layer": "fc1"}, {"layer": "conv1"}],
                            "stopped_at": None}},
    )
    order = -1 if reverse else 1
    for node_id, layer, index, layer_order, xi, cat in UNITS[::order]:
        kind = "conv_channel" if layer == "conv1" else "linear_neuron"
        g.add_unit(node_id, layer=layer, index=index, kind=kind, group=layer, order=layer_order,
                   xi=torch.tensor(xi), xi_ci_low=xi - 0.1, xi_ci_high=xi + 0.1, p_value=0.01,
                   category=cat, class_effects={0: 0.5, 1: -0.25})
    for c in [0, 1, 2][::order]:
        g.add_logit(c, order=2)
    for u, v, c, effect in EDGES[::order]:
        g.add_edge(u, v, c, effect=effect, rel_effect=effect / 2, z=3.0, p=0.001, mode="edge")
    return g


def typed(x):
    """``x`` with every value tagged by its type, so == also compares types (1 != 1.0)."""
    if isinstance(x, dict):
        return ("dict", sorted(((typed(k), typed(v)) for k, v in x.items()), key=repr))
    if isinstance(x, (list, tuple)):
        return (type(x).__name__, [typed(v) for v in x])
    return (type(x).__name__, x)


def snapshot(g: CausalGraph):
    return typed({"graph": g.nx.graph, "nodes": dict(g.nx.nodes(data=True)),
                  "edges": {(u, v): a for u, v, a in g.nx.edges(data=True)}})


@pytest.fixture
def graph() -> CausalGraph:
    g = make_graph()
    g.validate()
    return g


# ---------------------------------------------------------------------- model and queries


def test_building_normalises_values(graph):
    node = graph.node("fc1:1")
    assert node["xi"] is None  # NaN is stored as None
    assert type(graph.node("conv1:0")["xi"]) is float  # torch scalar became a float
    assert graph.node("conv1:0")["classes"] == [0, 1]
    assert graph.nx.edges["conv1:0", "fc1:0"]["classes"][1]["effect"] == 0.3
    assert sorted(graph.nx.edges["conv1:0", "fc1:0"]["classes"]) == [0, 1]
    assert len(graph) == 8 and "logit:2" in graph and "logit:9" not in graph
    assert graph.schema_version == SCHEMA_VERSION


def test_queries(graph):
    assert graph.classes() == [0, 1, 2]
    assert graph.layer_names() == ["conv1", "fc1"]
    assert graph.units() == ["conv1:0", "conv1:1", "conv1:2", "fc1:0", "fc1:1"]
    assert graph.units("fc1") == ["fc1:0", "fc1:1"]
    assert graph.causes_of(0) == ["conv1:0", "conv1:1", "fc1:0"]
    assert graph.causes_of(1) == ["conv1:0", "fc1:0", "fc1:1"]
    assert graph.causes_of(2) == []
    assert graph.units_by_category("critical") == ["conv1:0", "fc1:0"]
    assert graph.units_by_category(None) == ["fc1:1"]
    assert graph.category_counts() == {"critical": 2, "neutral": 1, "detrimental": 1, "none": 1}
    summary = graph.summary()
    assert (summary["nodes"], summary["edges"], summary["units"]) == (8, 5, 5)
    assert summary["classes"][0] == {"nodes": 4, "units": 3, "edges": 3}
    assert summary["classes"][2] == {"nodes": 1, "units": 0, "edges": 0}


def test_class_subgraph_and_paths(graph):
    sub = graph.class_subgraph(1)
    assert sorted(sub.nx.nodes) == ["conv1:0", "fc1:0", "fc1:1", "logit:1"]
    assert sorted(sub.nx.edges) == [("conv1:0", "fc1:0"), ("conv1:0", "fc1:1"),
                                    ("fc1:1", "logit:1")]
    assert sub.nx.graph == graph.nx.graph
    sub.node("conv1:0")["xi"] = 99.0
    assert graph.node("conv1:0")["xi"] == pytest.approx(0.8)  # an independent copy
    assert graph.path_to_logit("conv1:0", 1) == ["conv1:0", "fc1:1", "logit:1"]
    assert graph.path_to_logit("conv1:1", 0) == ["conv1:1", "fc1:0", "logit:0"]
    assert graph.path_to_logit("fc1:0", 1) is None  # fc1:0 -> logit:1 serves no class
    assert graph.path_to_logit("conv1:2", 0) is None  # not in class 0's graph


def test_cycles_and_unknown_nodes_are_refused(graph):
    with pytest.raises(ValueError, match="cycle"):
        graph.add_edge("logit:0", "conv1:1", 0, 1.0, 1.0, 3.0, 0.01, "edge")
    with pytest.raises(ValueError, match="cycle"):
        graph.add_edge("fc1:0", "fc1:0", 0, 1.0, 1.0, 3.0, 0.01, "edge")
    with pytest.raises(ValueError, match="unknown node"):
        graph.add_edge("conv1:0", "fc9:0", 0, 1.0, 1.0, 3.0, 0.01, "edge")
    assert not graph.nx.has_edge("logit:0", "conv1:1")
    graph.nx.add_edge("logit:0", "conv1:1", classes={0: {"effect": 1.0, "rel_effect": 1.0,
                                                         "z": 3.0, "p": 0.1, "mode": "edge"}})
    with pytest.raises(GraphFormatError, match="cycle"):
        graph.validate()


def test_check_model():
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    g = make_graph()
    g.nx.graph["model"]["fingerprint"] = model_fingerprint(model)
    g.check_model(model)
    g.check_model(model_fingerprint(model))
    other = nn.Linear(3, 2)
    with pytest.raises(ModelMismatchError, match="built from another model") as info:
        g.check_model(other)
    assert model_fingerprint(other)[:16] in str(info.value)
    assert g.fingerprint[:16] in str(info.value)


# ---------------------------------------------------------------------- JSON


def test_json_round_trip_is_exact_and_byte_stable(graph, tmp_path):
    path = tmp_path / "g.json"
    graph.save(path)
    loaded = CausalGraph.load(path)
    assert snapshot(loaded) == snapshot(graph)
    loaded.save(tmp_path / "again.json")
    assert (tmp_path / "again.json").read_bytes() == path.read_bytes()
    make_graph(reverse=True).save(tmp_path / "reversed.json")  # insertion order is irrelevant
    assert (tmp_path / "reversed.json").read_bytes() == path.read_bytes()
    on_disk = json.loads(path.read_text())
    assert on_disk["graph"]["schema"] == "causalnet.graph"
    assert on_disk["nodes"][0]["class_effects"] == {"0": 0.5, "1": -0.25}


def test_json_stores_nan_as_none(graph):
    graph.node("conv1:0")["my_score"] = float("inf")
    assert to_json_dict(graph)["nodes"][0]["my_score"] is None


def _write_variant(path, edit):
    d = to_json_dict(make_graph())
    edit(d)
    path.write_text(json.dumps(d))
    return path


@pytest.mark.parametrize(("edit", "phrase"), [
    (lambda d: d["graph"].update(schema_version=SCHEMA_VERSION + 1), "upgrade causalnet"),
    (lambda d: d["graph"].pop("schema"), "not a causalnet graph"),
    (lambda d: d["edges"].append({**d["edges"][0], "target": "fc9:0"}), "unknown node 'fc9:0'"),
    (lambda d: d["nodes"][0].pop("layer"), "has no string 'layer'"),
    (lambda d: d["edges"][0]["classes"].update(x={}), "class key 'x' is not an integer"),
    (lambda d: d["edges"][0]["classes"]["0"].update(mode="bogus"), "mode 'bogus'"),
    (lambda d: d["edges"].append({"source": "logit:0", "target": "conv1:0", "classes": {
        "0": {"effect": 1.0, "rel_effect": 1.0, "z": 3.0, "p": 0.1, "mode": "edge"}}}), "cycle"),
])
def test_json_load_refuses_bad_graphs(tmp_path, edit, phrase):
    path = _write_variant(tmp_path / "bad.json", edit)
    with pytest.raises(GraphFormatError, match=phrase) as info:
        load_json(path)
    assert str(path) in str(info.value)


def test_json_load_refuses_missing_truncated_and_foreign_files(tmp_path):
    with pytest.raises(GraphFormatError, match="does not exist"):
        load_json(tmp_path / "missing.json")
    save_json(make_graph(), tmp_path / "g.json")
    data = (tmp_path / "g.json").read_bytes()
    (tmp_path / "half.json").write_bytes(data[: len(data) // 2])
    with pytest.raises(GraphFormatError, match=r"not valid JSON \(truncated or edited\?\)"):
        load_json(tmp_path / "half.json")
    (tmp_path / "foo.json").write_text('{"foo": 1}')
    with pytest.raises(GraphFormatError, match="not a causalnet graph"):
        load_json(tmp_path / "foo.json")
    with pytest.raises(GraphFormatError, match="use .json or .graphml"):
        CausalGraph.load(tmp_path / "g.txt")


def test_saving_an_invalid_graph_is_refused(graph, tmp_path):
    graph.node("conv1:0")["category"] = "great"
    with pytest.raises(GraphFormatError, match="category 'great'"):
        graph.save(tmp_path / "g.json")
    assert not (tmp_path / "g.json").exists()


# ---------------------------------------------------------------------- GraphML and PyG


def test_graphml_round_trip_is_exact(graph, tmp_path):
    graph.node("fc1:0")["note"] = "json:looks like a prefix"  # a string that must stay a string
    path = tmp_path / "g.graphml"
    graph.save(path)
    loaded = CausalGraph.load(path)
    assert snapshot(loaded) == snapshot(graph)
    text = path.read_text()
    assert 'attr.name="xi" attr.type="double"' in text  # native, so Gephi can colour by it
    assert 'attr.name="category" attr.type="string"' in text


def test_graphml_load_refuses_truncated_and_newer_files(graph, tmp_path):
    path = tmp_path / "g.graphml"
    graph.save(path)
    data = path.read_bytes()
    (tmp_path / "half.graphml").write_bytes(data[: len(data) // 2])
    with pytest.raises(GraphFormatError, match="not valid GraphML"):
        load_graphml(tmp_path / "half.graphml")
    graph.nx.graph["schema_version"] = SCHEMA_VERSION + 1
    graph.save(path)
    with pytest.raises(GraphFormatError, match="upgrade causalnet"):
        load_graphml(path)


def test_pyg_export(graph):
    data = to_pyg(graph)
    n, m = len(graph), graph.nx.number_of_edges()
    assert data.x.shape == (n, len(PYG_NODE_FEATURES)) and data.x.dtype == torch.float32
    assert data.edge_attr.shape == (m, len(PYG_EDGE_FEATURES))
    assert data.edge_index.shape == (2, m)
    assert sorted(data.node_ids) == sorted(graph.nx.nodes) and len(data.layer) == n
    cols = {name: i for i, name in enumerate(PYG_NODE_FEATURES)}
    for row, node_id in enumerate(data.node_ids):
        attrs = graph.node(node_id)
        assert data.x[row, cols["order"]] == attrs["order"]
        assert data.x[row, cols["index"]] == attrs["index"]
        assert data.x[row, cols["is_logit"]] == (attrs["kind"] == "logit")
        assert data.x[row, cols[f"cat_{attrs['category'] or 'none'}"]] == 1
        assert data.x[row, cols["xi"]] == pytest.approx(attrs["xi"] or 0.0)
        assert data.layer[row] == attrs["layer"]
    for k, (src, dst) in enumerate(data.edge_index.t().tolist()):
        u, v = data.node_ids[src], data.node_ids[dst]
        classes = graph.nx.edges[u, v]["classes"]
        assert data.edge_attr[k, 1] == len(classes)
        assert data.edge_attr[k, 0] == pytest.approx(max(s["effect"] for s in classes.values()))
