import json

import pytest
import torch

from causalnet.builder import BuildSettings, GraphBuilder, build_graph
from causalnet.cli import main
from causalnet.errors import CausalnetInputError, GraphFormatError
from causalnet.graph import CausalGraph

from .toy import hand_wired, hand_wired_data, tiny_cnn


@pytest.fixture(scope="module")
def wired_graph():
    return build_graph(hand_wired(), hand_wired_data(), samples_per_class=60,
                       calibration_per_class=60)


def test_hand_wired_causes_are_recovered_exactly(wired_graph):
    g = wired_graph
    assert g.causes_of(0) == ["1:0"]
    assert g.causes_of(1) == ["1:1"]
    assert g.causes_of(2) == ["1:2", "1:5"]
    assert g.node("1:2")["classes"] == [2] and g.node("1:5")["classes"] == [2]


def test_hand_wired_categories(wired_graph):
    g = wired_graph
    cat = {n: g.node(n)["category"] for n in g.units()}
    assert cat["1:3"] == cat["1:4"] == "neutral"          # dead units
    assert g.node("1:3")["xi"] == pytest.approx(1.0)
    assert cat["1:5"] == "detrimental" and g.node("1:5")["xi"] > 1
    assert all(cat[f"1:{k}"] == "critical" for k in range(3))
    assert g.units_by_category("detrimental") == ["1:5"]
    assert g.path_to_logit("1:5", 2) == ["1:5", "logit:2"]


def test_graph_records_its_settings_and_model(wired_graph):
    meta = wired_graph.nx.graph
    assert meta["settings"]["alpha"] == 0.05 and meta["settings"]["intervention"] == "zero"
    assert meta["data"]["samples_per_class"] == 60
    assert meta["model"]["fingerprint"].startswith("sha256:")
    assert {"torch", "networkx", "causalnet"} <= set(meta["versions"])
    wired_graph.check_model(hand_wired())


def test_same_seed_gives_identical_file_and_round_trips(tmp_path):
    model, data = tiny_cnn(), (torch.randn(160, 1, 8, 8, generator=torch.Generator().manual_seed(0)),
                               torch.arange(4).repeat(40))
    # label inputs by the model's own prediction so every class has correctly classified samples
    data = (data[0], model(data[0]).argmax(1).detach())
    kw = dict(samples_per_class=10, calibration_per_class=5, intervention="soft", beta=0.2, seed=3,
              classes=sorted(set(data[1].tolist()))[:2])
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    build_graph(model, data, **kw).save(a)
    build_graph(model, data, **kw).save(b)
    assert a.read_bytes() == b.read_bytes()
    g = CausalGraph.load(a)
    g.save(tmp_path / "c.graphml")
    h = CausalGraph.load(tmp_path / "c.graphml")
    assert dict(h.nx.nodes(data=True)) == dict(g.nx.nodes(data=True))
    assert {(u, v): d for u, v, d in h.nx.edges(data=True)} == {(u, v): d for u, v, d in g.nx.edges(data=True)}
    assert h.nx.graph == g.nx.graph


def test_interrupted_build_resumes_from_checkpoint(tmp_path, monkeypatch):
    model, data = hand_wired(), hand_wired_data(40)
    ckpt = tmp_path / "g.json.ckpt.json"
    settings = dict(samples_per_class=30, calibration_per_class=30)
    calls = []
    original = GraphBuilder._class_walk

    def flaky(self, units, x, c, *rest):
        calls.append(c)
        if c == 1:
            raise KeyboardInterrupt
        return original(self, units, x, c, *rest)

    monkeypatch.setattr(GraphBuilder, "_class_walk", flaky)
    with pytest.raises(KeyboardInterrupt):
        GraphBuilder(model, BuildSettings(**settings), checkpoint=ckpt).build(data)
    saved = json.loads(ckpt.read_text())
    assert list(saved["classes"]) == ["0"] and saved["global"]
    calls.clear()
    monkeypatch.setattr(GraphBuilder, "_class_walk", original)
    resumed = GraphBuilder(model, BuildSettings(**settings), checkpoint=ckpt).build(data)
    assert not ckpt.exists()
    fresh = GraphBuilder(model, BuildSettings(**settings)).build(data)
    assert json.dumps(resumed.nx.graph, sort_keys=True, default=str) == json.dumps(fresh.nx.graph, sort_keys=True, default=str)
    assert dict(resumed.nx.nodes(data=True)) == dict(fresh.nx.nodes(data=True))


def test_class_without_correct_samples_is_refused():
    model = hand_wired()
    x, y = hand_wired_data(20)
    y = torch.where(y == 1, torch.tensor(0), y)   # class 0 label on class-1 inputs
    y[:3] = 1                                      # three class-0 inputs labelled 1: all wrong
    with pytest.raises(CausalnetInputError, match="class 1 has 0 correctly classified"):
        build_graph(model, (x, y), samples_per_class=5, calibration_per_class=2, global_effects=False)


def test_unknown_class_and_shape_mismatch():
    with pytest.raises(CausalnetInputError, match="unknown class index"):
        build_graph(hand_wired(), hand_wired_data(10), classes=[7])
    with pytest.raises(CausalnetInputError, match="cannot run on this data"):
        build_graph(hand_wired(), (torch.randn(10, 1, 3, 3), torch.zeros(10, dtype=torch.long)))


@pytest.mark.parametrize("content", ["", '{"nodes": [', "{\"schema\": \"causalnet.graph\", \"schema_version\": 99}",
                                     "[1, 2, 3]"])
def test_cli_refuses_bad_graph_files(tmp_path, content, capsys):
    bad = tmp_path / "g.json"
    bad.write_text(content)
    with pytest.raises(GraphFormatError):
        CausalGraph.load(bad)
    assert main(["info", str(bad)]) == 2
    assert "error" in capsys.readouterr().err


def test_cli_build_and_info_on_lenet(tmp_path, capsys):
    out = tmp_path / "lenet.json"
    assert main(["build", "--model", "zoo:lenet5", "--data", "mnist:test", "--classes", "3",
                 "--samples", "40", "--calibration", "5", "--out", str(out), "-q"]) == 0
    g = CausalGraph.load(out)
    assert g.classes() == [3] and g.causes_of(3)
    layers = {n.split(":")[0] for n in g.causes_of(3)}
    assert layers <= {"conv1", "conv2", "fc1", "fc2"} and "fc2" in layers
    assert main(["info", str(out)]) == 0
    assert "class 3" in capsys.readouterr().out
    assert main(["build", "--model", "zoo:lenet5", "--data", "mnist:test", "--classes", "12",
                 "--out", str(out), "-q"]) == 2


def test_fast_mode_screens_and_agrees_on_the_hand_wired_net(wired_graph):
    fast = build_graph(hand_wired(), hand_wired_data(), samples_per_class=60,
                       calibration_per_class=60, screen=True, screen_min=1, screen_margin=0.5)
    for c in range(3):
        assert fast.causes_of(c) == wired_graph.causes_of(c)
    assert {n: fast.node(n)["category"] for n in fast.units()} == \
        {n: wired_graph.node(n)["category"] for n in wired_graph.units()}
    tested = fast.nx.graph["class_graphs"]["0"]["layers_tested"][0]
    assert tested["exact_tests"] < tested["candidates"]      # the screen ruled some out
    methods = {fast.node(n)["xi_method"] for n in fast.units()}
    assert methods == {"exact", "first_order"}


def test_paired_class_test_finds_the_same_wiring(wired_graph):
    paired = build_graph(hand_wired(), hand_wired_data(), samples_per_class=60,
                         calibration_per_class=60, class_test="paired")
    for c in range(3):
        assert paired.causes_of(c) == wired_graph.causes_of(c)
    assert paired.nx.graph["settings"]["class_test"] == "paired"


def test_paired_test_sees_a_drop_every_input_shows():
    from causalnet.stats import drop_z_test, paired_drop_test

    rng = torch.Generator().manual_seed(0)
    observed = torch.randn(100, generator=rng).numpy() * 5 + 10     # wide spread across inputs
    intervened = observed - 0.3                                       # every input drops by 0.3
    assert drop_z_test(observed, intervened[None]).p[0] > 0.05
    assert paired_drop_test(observed, intervened[None]).p[0] < 1e-6



def test_mean_intervention_uses_the_population_mean_in_class_walks(wired_graph):
    # a class's own inputs all carry its feature: their mean would keep it and find no cause
    g = build_graph(hand_wired(), hand_wired_data(), samples_per_class=60, calibration_per_class=60,
                    intervention="mean")
    assert g.nx.graph["settings"]["intervention"] == "mean"
    assert g.causes_of(0) == ["1:0"] and g.causes_of(1) == ["1:1"]
    # unit 5 is near its mean on every input: replacing it by that mean changes nothing
    assert g.causes_of(2) == ["1:2"] and wired_graph.causes_of(2) == ["1:2", "1:5"]


def test_predicted_intervention_builds_and_the_cli_offers_every_mode(wired_graph):
    from causalnet.commands.build import INTERVENTIONS
    from causalnet.interventions import MODES

    assert INTERVENTIONS == MODES
    g = build_graph(hand_wired(), hand_wired_data(), samples_per_class=60, calibration_per_class=60,
                    intervention="predicted")
    assert g.nx.graph["settings"]["intervention"] == "predicted"
    cat = {n: g.node(n)["category"] for n in g.units()}
    assert cat["1:3"] == cat["1:4"] == "neutral"          # dead units stay dead
    # a unit the others predict (here one-hot: unit 0 is about 3 - unit 1 - unit 2) is restored
    # by its prediction; no cause appears that the wiring lacks
    for c in range(3):
        assert set(g.causes_of(c)) <= set(wired_graph.causes_of(c))
