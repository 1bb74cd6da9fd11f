"""Graph files that are broken, tampered or meaningless: every one ends in a valid load or a
clean CausalnetError, and a file that loads never crashes info, audit or render (issue 17)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from causalnet.builder import build_graph
from causalnet.cli import main
from causalnet.errors import CausalnetError, GraphFormatError
from causalnet.graph import CausalGraph

from ..fuzz import mutate_json
from .toy import hand_wired, hand_wired_data


@pytest.fixture(scope="module")
def graph_dict(tmp_path_factory) -> dict:
    g = build_graph(hand_wired(), hand_wired_data(30), samples_per_class=20, calibration_per_class=10)
    path = tmp_path_factory.mktemp("g") / "g.json"
    g.save(path)
    return json.loads(path.read_text())


def _write(tmp_path: Path, d, name: str = "g.json") -> Path:
    path = tmp_path / name
    path.write_text(d if isinstance(d, str) else json.dumps(d, allow_nan=True))
    return path


def _unit(d: dict) -> dict:
    return next(n for n in d["nodes"] if n["kind"] != "logit")


def _mutations(d: dict):
    """The report's cases, each a (name, function that edits a copy of the dict)."""
    def node_index(x):
        _unit(x)["index"] = 1_000_000

    def layers_empty(x):
        x["graph"]["layers"] = []

    def logit_edge(x):   # logit:c -> a unit tagged with class c but on no path (no cycle is formed)
        unit = next(n for n in x["nodes"] if n["kind"] != "logit" and not n["classes"])
        unit["classes"] = [0]
        x["edges"].append({"source": "logit:0", "target": unit["id"],
                           "classes": {"0": {"effect": 1.0, "rel_effect": 0.1, "z": 3.0, "p": 0.01, "mode": "edge"}}})

    def nan_stat(x):
        _unit(x)["xi"] = math.nan

    def nan_edge(x):
        next(iter(x["edges"][0]["classes"].values()))["z"] = math.inf

    def list_endpoint(x):
        x["edges"][0]["source"] = ["a", "b"]

    def int_fingerprint(x):
        x["graph"]["model"]["fingerprint"] = 12345

    def tested_null(x):
        next(iter(x["graph"]["class_graphs"].values()))["layers_tested"] = None

    def tested_string(x):
        cg = next(iter(x["graph"]["class_graphs"].values()))
        cg["layers_tested"][0]["kept"] = "many"

    def bad_shape(x):
        x["graph"]["model"]["input_shape"] = [-1, 2, 2]

    def logit_out_of_range(x):
        x["graph"]["model"]["num_classes"] = 1

    def same_layer_edge(x):   # two units of one layer, both in class c's graph
        c, units = next((c, [n["id"] for n in x["nodes"] if n["kind"] != "logit" and c in n["classes"]])
                        for c in range(3) if sum(c in n["classes"] for n in x["nodes"] if n["kind"] != "logit") > 1)
        x["edges"].append({"source": units[0], "target": units[1],
                           "classes": {str(c): {"effect": 1.0, "rel_effect": 0.1, "z": 3.0, "p": 0.01, "mode": "edge"}}})

    return [f for f in (node_index, layers_empty, logit_edge, nan_stat, nan_edge, list_endpoint,
                        int_fingerprint, tested_null, tested_string, bad_shape, logit_out_of_range,
                        same_layer_edge)]


@pytest.mark.parametrize("k", range(12))
def test_meaningless_graphs_are_refused(tmp_path, graph_dict, k):
    d = json.loads(json.dumps(graph_dict))
    _mutations(d)[k](d)
    path = _write(tmp_path, d)
    with pytest.raises(GraphFormatError):
        CausalGraph.load(path)
    for argv in (["info", str(path)], ["audit", str(path), "-q", "--out", str(tmp_path / "a.md")],
                 ["render", str(path), "--out", str(tmp_path / "r.dot")]):
        assert main(argv) == 2


@pytest.mark.parametrize("text", ["[" * 1500 + "]" * 1500, '{"graph": ' * 1500 + "1" + "}" * 1500,
                                  '{"graph": {"schema": "causalnet.graph", "schema_version": 1, "x": '
                                  + "[" * 990 + "]" * 990 + "}, \"nodes\": [], \"edges\": []}"])
def test_deeply_nested_json_is_refused_not_a_recursion_error(tmp_path, text):
    path = _write(tmp_path, text)
    try:
        CausalGraph.load(path)
    except CausalnetError:
        pass
    assert main(["info", str(path)]) in (0, 2)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_graph_files_load_or_are_refused_and_never_crash_a_consumer(tmp_path, graph_dict, data):
    d = json.loads(json.dumps(graph_dict))
    for _ in range(data.draw(st.integers(1, 3))):
        mutate_json(d, data)
    path = _write(tmp_path, d)
    try:
        CausalGraph.load(path)
    except CausalnetError:
        return
    assert main(["info", str(path)]) in (0, 2)
    assert main(["audit", str(path), "-q", "--out", str(tmp_path / "a.md")]) in (0, 2)
    assert main(["render", str(path), "--out", str(tmp_path / "r.dot")]) in (0, 2)


@settings(max_examples=100, deadline=None)
@given(text=st.text(max_size=60) | st.binary(max_size=60).map(lambda b: b.decode("latin-1")))
def test_arbitrary_text_is_refused_cleanly(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("t") / "g.json"
    path.write_text(text, encoding="utf-8", errors="surrogateescape")
    with pytest.raises(CausalnetError):
        CausalGraph.load(path)
