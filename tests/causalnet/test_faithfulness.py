"""graph_faithfulness on the hand-wired net, whose class graphs have a known answer: class k's
graph is hidden unit k (class 2 also unit 5), so sufficiency and necessity are predictable."""

import numpy as np
import pytest
import torch

from causalnet import graph_faithfulness
from causalnet.builder import build_graph
from causalnet.data import DataBundle, TensorImageDataset
from causalnet.errors import CausalnetInputError, ModelMismatchError
from causalnet.faithfulness import class_jaccard, class_units, weight_l1_scores
from causalnet.units import discover_units

from .toy import hand_wired, hand_wired_data, tiny_cnn


def _bundle(eval_data=None) -> DataBundle:
    fit = TensorImageDataset(*hand_wired_data(60, seed=0))
    ev = TensorImageDataset(*(eval_data or hand_wired_data(30, seed=1)))
    return DataBundle(spec="wired", fit=fit, eval=ev)


@pytest.fixture(scope="module")
def wired():
    model, bundle = hand_wired(), _bundle()
    graph = build_graph(model, bundle, samples_per_class=40, calibration_per_class=40)
    assert class_units(graph, 2) == {"1": [2, 5]}
    return model, graph, bundle


def _row(report, c, method="graph"):
    return next(r for r in report.rows if r["class"] == c and r["method"] == method)


def test_zero_ablation_gives_the_known_answer(wired):
    model, graph, bundle = wired
    rep = graph_faithfulness(model, graph, bundle, per_class=20, values="zero", fractions=(1.0,))
    for c in range(3):
        r = _row(rep, c)
        assert r["clean_acc"] == 1.0 and r["suff_acc"] == 1.0   # the graph alone keeps the class
        assert r["nec_drop_own"] >= 0.9     # cutting it loses (almost: all-zero ties) every image
        assert r["nec_drop_other"] == 0.0                     # and costs the other classes nothing
        assert r["reaches_first_layer"] and r["layers_covered"] == 1
        assert r["size"] == pytest.approx(len(graph.causes_of(c)) / 6)
    # keeping every unit (fraction 1) is the clean model; cutting every unit loses everything
    full = [p for p in rep.curve if p["fraction"] == 1.0]
    assert all(p["suff_acc"] == 1.0 and p["suff_margin"] == pytest.approx(1.0) for p in full)
    assert {p["method"] for p in full} == {"causal", "random", "weight_l1"}


def test_mean_ablation_and_a_bad_ranking_lose(wired):
    model, graph, bundle = wired
    dead_first = {"1": {0: np.array([0, 0, 0, 5.0, 0, 0])}}   # a ranking that picks dead unit 3
    rep = graph_faithfulness(model, graph, bundle, classes=[0], per_class=20,
                             rankings={"dead": dead_first}, fractions=(0.2,))
    assert _row(rep, 0)["suff_acc"] == 1.0
    bad = _row(rep, 0, "dead")
    assert bad["overlap_with_graph"] == 0 and bad["units"] == 1
    assert bad["suff_acc"] == 0.0 and bad["nec_drop_own"] == 0.0
    assert [r["method"] for r in rep.rows] == ["graph", "random", "weight_l1", "dead"]
    # the causal curve at 1 unit is the graph itself
    point = next(p for p in rep.curve if p["method"] == "causal")
    assert point["units"] == 1 and point["suff_acc"] == 1.0


def test_held_out_images_come_from_eval_and_are_recorded(wired):
    model, graph, _ = wired
    x, y = hand_wired_data(30, seed=1)
    x = x.clone()
    x.view(len(x), -1)[y == 0, 0] = -3.0     # class 0 unrecognisable, in the eval split only
    rep = graph_faithfulness(model, graph, _bundle((x, y)), per_class=10, values="zero", fractions=())
    assert _row(rep, 0)["clean_acc"] == 0.0 and _row(rep, 1)["clean_acc"] == 1.0
    assert sorted(rep.images) == [0, 1, 2]
    for k, idx in rep.images.items():
        assert len(idx) == 10 and all(int(y[i]) == k for i in idx)
    assert rep.settings["held_out_split"] == "eval" and len(rep.reference) == 3 * 40
    assert rep.curve == [] and len(rep.to_rows()) == 3 * 3


def test_refuses_a_graph_of_another_model_and_unknown_controls(wired):
    _, graph, bundle = wired
    other = hand_wired()
    with torch.no_grad():
        other[3].weight.mul_(2)
    with pytest.raises(ModelMismatchError):
        graph_faithfulness(other, graph, bundle)
    with pytest.raises(CausalnetInputError, match="built-in controls"):
        graph_faithfulness(hand_wired(), graph, bundle, controls=("magic",))
    with pytest.raises(CausalnetInputError, match="no class graph"):
        graph_faithfulness(hand_wired(), graph, bundle, classes=[7])


def test_jaccard_and_summary(wired):
    model, graph, bundle = wired
    assert class_jaccard(graph, graph, 2) == 1.0
    empty = build_graph(hand_wired(), _bundle(), classes=[0], samples_per_class=40,
                        calibration_per_class=40, global_effects=False)
    assert np.isnan(class_jaccard(empty, empty, 1))   # class 1 has no graph in either
    rep = graph_faithfulness(model, graph, bundle, per_class=5, fractions=(0.5,))
    summary = {r["method"]: r for r in rep.summary()}
    assert summary["graph"]["classes"] == 3 and 0 <= summary["graph"]["suff_acc"] <= 1


def test_weight_l1_sums_every_reader():
    model = tiny_cnn()
    units = discover_units(model, torch.zeros(1, 1, 8, 8))
    multi = next(layer for layer in units if len(layer.readers) > 1)   # the residual group
    scores = weight_l1_scores(multi)
    w = [r.module.weight.detach().abs() for r in multi.readers]
    expected = sum(float(wi.reshape(wi.shape[0], wi.shape[1], -1).sum(2)[:, r.index[0]].sum())
                   for wi, r in zip(w, multi.readers, strict=True))
    assert scores[0] == pytest.approx(expected)
