"""Saving and loading pruned models: identical outputs, the source model checked."""

import copy
import json

import pytest
import torch

from causalnet.errors import CausalnetInputError, ModelMismatchError
from causalnet.masking import reader_means
from causalnet.units import discover_units
from causalnet.zoo import zoo_entry
from pruning.io import PlanFormatError, load_pruned, make_plan, save_pruned
from pruning.removal import prune_units
from pruning.repair import fold_means, reestimate_batchnorm

from .nets import FoldCNN, random_removal


def _prune(source, shape, seed=0):
    x = torch.rand(32, *shape, generator=torch.Generator().manual_seed(seed))
    units = discover_units(source, x[:1])
    removal = random_removal(units, seed=seed)
    plan = make_plan(source, removal, shape, settings={"method": "test"})
    model = copy.deepcopy(source)
    repair = fold_means(model, units, removal, reader_means(source, units, x))
    prune_units(model, units, removal, x[:1])
    reestimate_batchnorm(model, x)
    plan["repair"] = {**repair, "batchnorm_reestimated": True}
    return model, plan, x


@pytest.mark.parametrize("make,shape", [(lambda: zoo_entry("resnet20").build().eval(), (1, 28, 28)),
                                        (FoldCNN, (1, 10, 10))], ids=["resnet20", "created-bias"])
def test_round_trip_gives_identical_outputs(tmp_path, make, shape):
    torch.manual_seed(0)
    source = make()
    fresh = copy.deepcopy(source)
    model, plan, x = _prune(source, shape)
    report = {"before": {"params": 10, "macs": 20}, "after": {"params": 5, "macs": 10},
              "accuracy_drop": float("nan"), "note": torch.tensor(1.5)}
    save_pruned(model, plan, tmp_path / "out", report)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "plan.json", "pruned.safetensors", "report.json", "report.md"]       # no temp files left
    saved = json.loads((tmp_path / "out" / "plan.json").read_text())
    assert (saved["schema"], saved["schema_version"]) == ("causalnet.pruning_plan", 1)
    assert saved["input_shape"] == list(shape) and saved["removal"] == plan["removal"]
    assert json.loads((tmp_path / "out" / "report.json").read_text())["accuracy_drop"] is None
    loaded = load_pruned(fresh, tmp_path / "out")
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))


def test_another_model_is_refused(tmp_path):
    torch.manual_seed(0)
    source = FoldCNN(seed=0)
    model, plan, _ = _prune(source, (1, 10, 10))
    save_pruned(model, plan, tmp_path, {})
    with pytest.raises(ModelMismatchError, match="was made from model sha256:"):
        load_pruned(FoldCNN(seed=1), tmp_path)
    with pytest.raises(PlanFormatError, match="no plan.json"):
        load_pruned(FoldCNN(seed=0), tmp_path / "missing")
    bad = dict(plan, schema_version=2)
    with pytest.raises(CausalnetInputError, match="version"):
        save_pruned(model, bad, tmp_path / "bad", {})
