"""`causalnet demo` prints each class graph's sufficiency and necessity on held-out images."""

import re

from causalnet import faithfulness
from causalnet.commands.demo import _print_faithfulness
from causalnet.graph import CausalGraph

GRAPH = "tests/viz/data/resnet20_graph.json"   # a full 10-class graph of zoo:resnet20


def test_demo_prints_each_class_graphs_sufficiency_and_necessity(capsys, monkeypatch):
    seen = []

    def recorded(*args, **kwargs):   # the library's own measurement, kept for the comparison
        seen.append(faithfulness_fn(*args, **kwargs))
        return seen[-1]

    faithfulness_fn = faithfulness.graph_faithfulness
    monkeypatch.setattr(faithfulness, "graph_faithfulness", recorded)
    _print_faithfulness(GRAPH)
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("  class ")]
    assert len(lines) == len(CausalGraph.load(GRAPH).classes()) == 10
    (report,) = seen
    assert report.settings["held_out_split"] == "eval" and report.curve == []
    rows = {(r["class"], r["method"]): r for r in report.rows}
    for line in lines:   # the printed numbers are the graph's and its equal-size random control's
        c = int(re.match(r"  class (\d+):", line).group(1))
        g, r = rows[(c, "graph")], rows[(c, "random")]
        if not g["units"]:
            assert "empty graph" in line
            continue
        assert f"{g['units']} units" in line
        assert f"sufficiency {g['suff_acc']:.0%} (random set {r['suff_acc']:.0%})" in line
        assert f"necessity {-100 * g['nec_drop_own'] + 0.0:+.1f} own" in line
        assert f"(random {-100 * r['nec_drop_own'] + 0.0:+.1f} / " in line
