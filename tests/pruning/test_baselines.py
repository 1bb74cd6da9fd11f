"""Baseline rankings on the unit layers, and plans that reach a target size."""

import copy
import warnings

import pytest
import torch
from captum.attr import LayerConductance

from causalnet.errors import CausalnetInputError
from causalnet.evaluate import count_macs_params
from causalnet.units import discover_units
from causalnet.zoo import zoo_entry
from pruning.baselines import BASELINES, _layer_conductance, baseline_scores, plan_by_scores
from pruning.costs import removal_cost, unit_costs
from pruning.removal import prune_units

warnings.filterwarnings("ignore", module="torch_pruning")


@pytest.fixture(scope="module")
def resnet():
    torch.manual_seed(0)
    model = zoo_entry("resnet20").build().eval()
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(12, 1, 28, 28, generator=g), torch.arange(12) % 10
    units = discover_units(model, x[:1])
    return model, units, x, y, unit_costs(model, units, x[:1])


@pytest.mark.parametrize("arch", ["resnet20", "vit_tiny"])
def test_every_baseline_scores_every_unit(arch):
    torch.manual_seed(0)
    model = zoo_entry(arch).build().eval()
    x, y = torch.rand(6, 1, 28, 28), torch.arange(6)
    units = discover_units(model, x[:1])
    state = copy.deepcopy(model.state_dict())
    for method in BASELINES:
        if method == "bn_scale" and arch == "vit_tiny":
            with pytest.raises(CausalnetInputError, match="BatchNorm"):
                baseline_scores(method, model, units, x, y, x[:1])
            continue
        scores = baseline_scores(method, model, units, x, y, x[:1], n_steps=3)
        assert set(scores) == {layer.name for layer in units}, method
        for layer in units:
            s = scores[layer.name]
            assert s.shape == (layer.size,) and torch.isfinite(s).all(), (method, layer.name)
        assert all(p.grad is None for p in model.parameters())
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())
    a = baseline_scores("random", model, units, x, y, x[:1], seed=3)
    b = baseline_scores("random", model, units, x, y, x[:1], seed=3)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_conductance_of_all_layers_at_once_equals_captum_per_layer(resnet):
    model, units, x, y, _ = resnet
    readers = [units.layer(n).readers[0] for n in ("conv1", "layer2.0.conv2", "layer3.1.conv1")]
    modules = dict(model.named_modules())
    together = _layer_conductance(model, [modules[r.name] for r in readers], x, y, n_steps=4)
    for reader, attr in zip(readers, together, strict=True):
        ref = LayerConductance(model, modules[reader.name]).attribute(
            x, target=y, n_steps=4, attribute_to_layer_input=True)
        torch.testing.assert_close(attr, ref, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("key,fraction", [("params", 0.3), ("macs", 0.5)])
@pytest.mark.parametrize("global_ranking", [True, False])
def test_plans_reach_the_target_within_one_unit(resnet, key, fraction, global_ranking):
    model, units, x, y, costs = resnet
    scores = baseline_scores("l1", model, units, x, y, x[:1])
    plan = plan_by_scores(scores, costs, global_ranking=global_ranking, **{f"target_{key}": fraction})
    pruned = prune_units(copy.deepcopy(model), units, plan, x[:1])
    macs, params = count_macs_params(pruned, (1, 28, 28))
    total, left = (costs.params, params) if key == "params" else (costs.macs, macs)
    one_unit = max(entry[f"{key}_per_unit"] for entry in costs.values())
    assert fraction * total <= total - left <= fraction * total + one_unit
    for layer in units:     # lowest scores went first, and no layer was emptied
        removed = plan.get(layer.name, [])
        assert len(removed) < layer.size
        if removed:
            kept = [u for u in range(layer.size) if u not in removed]
            assert scores[layer.name][removed].max() <= scores[layer.name][kept].min()
    if not global_ranking:
        shares = [len(plan.get(layer.name, [])) / layer.size for layer in units]
        assert max(shares) - min(shares) <= 1 / 16 + 1e-9


def test_plans_never_empty_a_layer_and_round_to_eight(resnet):
    model, units, x, y, costs = resnet
    scores = baseline_scores("l2", model, units, x, y, x[:1])
    most = removal_cost(costs, {layer.name: layer.size - 1 for layer in units})[0] / costs.params
    with pytest.warns(UserWarning, match="short of"):
        plan = plan_by_scores(scores, costs, target_params=(most + 1) / 2)
    assert all(layer.size - len(plan[layer.name]) == 1 for layer in units)
    plan = plan_by_scores(scores, costs, target_macs=0.4, round_to=8)
    kept = [layer.size - len(plan.get(layer.name, [])) for layer in units]
    assert all(k % 8 == 0 and k >= 8 for k in kept)
    with pytest.raises(CausalnetInputError, match="exactly one"):
        plan_by_scores(scores, costs, target_params=0.2, target_macs=0.2)
    for normalize in ("none", "mean"):      # Torch-Pruning's own global comparison, and by mean
        plan = plan_by_scores(scores, costs, target_params=0.4, normalize=normalize)
        removed = removal_cost(costs, {k: len(v) for k, v in plan.items()})[0]
        one_unit = max(entry["params_per_unit"] for entry in costs.values())
        assert 0.4 * costs.params <= removed <= 0.4 * costs.params + one_unit
    with pytest.raises(CausalnetInputError, match="normalize"):
        plan_by_scores(scores, costs, target_params=0.2, normalize="sum")
