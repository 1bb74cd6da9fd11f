"""The joint class walk (causalnet.joint_walk): units a class needs together, every layer."""

import pytest
import torch

from causalnet.builder import BuildSettings, build_graph
from causalnet.errors import CausalnetInputError
from causalnet.evaluate import class_margin
from causalnet.faithfulness import class_units
from causalnet.graph import CausalGraph
from causalnet.joint_walk import MARGIN_SHARE
from causalnet.masking import switched_off
from causalnet.units import discover_units

from .toy import hand_wired, hand_wired_data, tiny_cnn


def _tiny_data(n: int = 200):
    model = tiny_cnn()
    x = torch.randn(n, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        y = model(x).argmax(1)
    return model, (x, y)


@pytest.fixture(scope="module")
def tiny_joint():
    model, (x, y) = _tiny_data()
    classes = [c for c in range(4) if int((y == c).sum()) >= 20][:2]
    # exactly 20 inputs of each class: the walk uses all of them, the test can recompute
    idx = torch.cat([torch.nonzero(y == c).flatten()[:20] for c in classes])
    data = (x[idx], y[idx])
    graph = build_graph(model, data, classes=classes, samples_per_class=20, calibration_per_class=5,
                        walk="joint", global_effects=False)
    return model, data, classes, graph


def test_every_unit_layer_is_reached_and_the_graph_holds_its_inputs(tiny_joint):
    model, (x, y), classes, graph = tiny_joint
    units = discover_units(model, x[:1])
    for c in classes:
        kept = class_units(graph, c)
        assert set(kept) == {layer.name for layer in units.layers}   # down to the first layer
        log = graph.nx.graph["class_graphs"][str(c)]["layers_tested"]
        assert [r["mode"] for r in log] == ["joint"] * len(units.layers)
        # recompute: keep only the graph's units in every layer, switch the rest off together
        xc = x[y == c]
        off = {layer.name: [j for j in range(layer.size) if j not in set(kept[layer.name])]
               for layer in units.layers}
        with torch.no_grad():
            clean = class_margin(model(xc), c)
            with switched_off(units, off):
                restricted = class_margin(model(xc), c)
        held = float((restricted >= MARGIN_SHARE * clean).double().mean())
        assert held >= graph.nx.graph["settings"]["walk_keep"] - 1e-9
        assert held == pytest.approx(log[-1]["held_kept"])
        # the bisection stopped at the fewest units: one fewer in the last layer breaks the target
        if log[-1]["held_one_fewer"] is not None:
            assert log[-1]["held_one_fewer"] < log[-1]["target_held"]


def test_edges_join_kept_units_and_carry_the_ranking(tiny_joint):
    _, _, classes, graph = tiny_joint
    for c in classes:
        causes = set(graph.causes_of(c))
        for u, v, d in graph.nx.edges(data=True):
            stats = d["classes"].get(c)
            if stats is None:
                continue
            assert stats["mode"] == "joint" and u in causes
            assert v in causes or v == f"logit:{c}"
            assert 0.0 <= stats["p"] <= 1.0


def test_walk_is_recorded_saved_and_old_files_read_as_paper2(tiny_joint, tmp_path):
    _, _, _, graph = tiny_joint
    assert graph.nx.graph["settings"]["walk"] == "joint"
    graph.save(tmp_path / "g.json")
    again = CausalGraph.load(tmp_path / "g.json")
    assert again.nx.graph["settings"]["walk"] == "joint"
    old = build_graph(hand_wired(), hand_wired_data(40), samples_per_class=20, calibration_per_class=20)
    assert old.nx.graph["settings"]["walk"] == "paper2"   # the default stays the published walk


def test_bad_walk_settings_say_what_to_do():
    with pytest.raises(CausalnetInputError, match="paper2"):
        BuildSettings(walk="greedy").validate()
    with pytest.raises(CausalnetInputError, match="--walk paper2"):
        BuildSettings(walk="joint", intervention="soft").validate()
    with pytest.raises(CausalnetInputError, match="walk_keep"):
        BuildSettings(walk="joint", walk_keep=1.5).validate()


def test_cli_builds_a_joint_graph(tmp_path):
    from causalnet.cli import main

    out = tmp_path / "g.json"
    rc = main(["build", "--model", "zoo:lenet5", "--data", "mnist",
               "--classes", "0", "--samples", "20", "--calibration", "2", "--no-global",
               "--walk", "joint", "--out", str(out), "-q"])
    assert rc == 0
    g = CausalGraph.load(out)
    assert g.nx.graph["settings"]["walk"] == "joint"
    assert set(class_units(g, 0)) == {"conv1", "conv2", "fc1", "fc2"}
    # the audit lists each kept unit with the joint test that kept it, not a single-cut p
    assert main(["audit", str(out), "--model", "zoo:lenet5", "--data", "mnist",
                 "--out", str(tmp_path / "a.md"), "-q"]) == 0
    text = (tmp_path / "a.md").read_text()
    assert text.count("kept together (joint walk)") == 4
