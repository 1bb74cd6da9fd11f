"""Smoke test of `causalnet bench explain --quick`: the files exist and are well-formed (the
values are the benchmark's business, not the test's)."""

from __future__ import annotations

import csv
import math

import pytest

PNG = b"\x89PNG\r\n\x1a\n"


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_bench_explain_quick_writes_wellformed_outputs(tmp_path, capsys):
    from benchmarks._explain_inputs import METHODS as INPUT_METHODS
    from benchmarks._explain_inputs import METRICS
    from benchmarks._explain_units import METHODS as UNIT_METHODS
    from benchmarks.attribution_stability import QUICK
    from causalnet.cli import main

    assert main(["bench", "explain", "--quick", "--out", str(tmp_path), "-q"]) == 0
    assert "explain: wrote" in capsys.readouterr().out

    units = _rows(tmp_path / "attribution_units_quick.csv")
    assert [r["method"] for r in units] == list(UNIT_METHODS)
    for r in units:
        for key in ("spearman_splits", "jaccard10_splits", "spearman_noise", "jaccard5_noise",
                    "logit_drop_auc", "acc_drop_auc"):
            v = float(r[key])
            assert math.isnan(v) or -1.0 <= v <= 1.0 or key.startswith("logit"), (key, v)
        assert 0.0 <= float(r["jaccard20_splits"]) <= 1.0

    curves = _rows(tmp_path / "attribution_faithfulness_quick.csv")
    assert len(curves) == len(UNIT_METHODS) * 6
    assert all(float(r["logit_drop"]) == 0.0 for r in curves if float(r["fraction"]) == 0.0)

    inputs = _rows(tmp_path / "attribution_inputs_quick.csv")
    assert [r["method"] for r in inputs] == list(INPUT_METHODS)
    assert all(math.isfinite(float(r[m])) for r in inputs for m in METRICS)
    assert inputs[0]["causal_map_source"]

    gs = _rows(tmp_path / "graph_stability_quick.csv")
    assert [float(r["beta"]) for r in gs] == QUICK["lenet5"].gs_betas
    assert all(0.0 <= float(r["jaccard_vs_beta0"]) <= 1.0 for r in gs)
    nodes = _rows(tmp_path / "graph_stability_nodes_quick.csv")
    assert nodes and all(0.0 < float(r["frequency"]) <= 1.0 for r in nodes)

    md = (tmp_path / "attribution_stability_quick.md").read_text()
    for heading in ("## Unit level", "## Input level", "## Graph stability"):
        assert heading in md
    pngs = sorted(tmp_path.glob("*.png"))
    assert {p.name for p in pngs} == {"attribution_stability_lenet5_quick.png",
                                      "attribution_faithfulness_lenet5_quick.png",
                                      "attribution_lipschitz_lenet5_quick.png",
                                      "graph_stability_quick.png"}
    assert all(p.read_bytes()[:8] == PNG for p in pngs)


def test_bench_names_a_missing_benchmark_module():
    from benchmarks.cli import _module
    from causalnet.errors import CausalnetInputError

    with pytest.raises(CausalnetInputError, match="no_such_bench"):
        _module("no_such_bench", "nothing")


def test_bench_and_compare_are_registered(capsys):
    from causalnet.cli import main

    for command in ("bench", "compare"):
        with pytest.raises(SystemExit) as exc:
            main([command, "--help"])
        assert exc.value.code == 0
        assert "example" in capsys.readouterr().out
