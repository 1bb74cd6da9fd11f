"""The faithfulness benchmark's own pieces: settings overrides and the Captum control rankings
(on the hand-wired net, where unit k carries class k)."""

import numpy as np

from benchmarks.graph_faithfulness import captum_rankings, parse_overrides
from causalnet.builder import build_graph
from causalnet.data import DataBundle, TensorImageDataset
from tests.causalnet.toy import hand_wired, hand_wired_data


def test_overrides_are_parsed_with_numbers():
    assert parse_overrides("class_test=paired,correction=bh,alpha=0.01,samples_per_class=50") == {
        "class_test": "paired", "correction": "bh", "alpha": 0.01, "samples_per_class": 50}
    assert parse_overrides(None) == {}


def test_captum_rankings_put_the_wired_unit_first():
    model = hand_wired()
    fit = TensorImageDataset(*hand_wired_data(40, seed=0))
    bundle = DataBundle(spec="wired", fit=fit, eval=fit)
    graph = build_graph(model, bundle, samples_per_class=30, calibration_per_class=30)
    ranks = captum_rankings(model, graph, bundle, [0, 1], per_class=8, seed=0, n_steps=4)
    for method in ("LayerConductance", "LayerFeatureAblation"):
        for c in (0, 1):
            assert int(np.argmax(ranks[method]["1"][c])) == c


def test_earlier_rows_keep_only_the_models_not_remeasured(tmp_path):
    from benchmarks._common import write_csv
    from benchmarks.graph_faithfulness import earlier_rows

    for stem in ("", "_curve", "_summary"):
        write_csv(f"graph_faithfulness_fashion{stem}.csv",
                  [{"model": "a", "units": 3, "method": "graph"},
                   {"model": "b", "units": 5, "method": "graph"}], tmp_path)
    kept = earlier_rows(tmp_path, "_fashion", ["b", "c"])
    assert all(rows == [{"model": "a", "units": 3.0, "method": "graph"}] for rows in kept.values())
    assert earlier_rows(tmp_path, "_zero", ["a"]) == {"rows": [], "curve": [], "summary": []}
