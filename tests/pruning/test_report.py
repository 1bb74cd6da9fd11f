"""Before/after measurements and their markdown table."""

import copy

import torch

from causalnet.units import discover_units
from causalnet.zoo import zoo_entry
from pruning.removal import prune_units
from pruning.report import compare, measure, render_markdown


def test_measure_and_compare():
    torch.manual_seed(0)
    model = zoo_entry("lenet5").build().eval()
    x, y = torch.rand(20, 1, 28, 28), torch.arange(20) % 10
    before = measure(model, (x, y), (1, 28, 28), batch_sizes=(1, 4), repeats=2, warmup=1)
    units = discover_units(model, x[:1])
    pruned = prune_units(copy.deepcopy(model), units, {"fc1": list(range(60))}, x[:1])
    after = measure(pruned, (x, y), (1, 28, 28), batch_sizes=(1, 4), repeats=2, warmup=1)
    assert after["params"] < before["params"] and after["macs"] < before["macs"]
    assert 0.0 <= after["accuracy"] <= 1.0 and set(after["latency_ms"]) == {"1", "4"}
    assert before["units"]["fc1"] == 120 and after["units"]["fc1"] == 60
    table = compare(before, after)
    assert "| parameters |" in table and "| `fc1` | 120 | 60 | 50% |" in table
    assert "CPU latency, batch 4" in table
    md = render_markdown({"before": before, "after": after, "method": "l1"})
    assert md.startswith("# Pruning report") and "- method: l1" in md
    assert measure(pruned, None, (1, 28, 28), batch_sizes=(1,), repeats=1)["accuracy"] is None
