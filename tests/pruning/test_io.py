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


# ---- tampered plans (issue 17): refused before the caller's model is touched -----------------

def _tamper_cases():
    return {
        "fingerprint-int": lambda p: p.update(source_fingerprint=12345),
        "removal-list": lambda p: p.update(removal=[1, 2]),
        "shape-negative": lambda p: p.update(input_shape=[-1, 28, 28]),
        "shape-text": lambda p: p.update(input_shape=["a"]),
        "unknown-discover-option": lambda p: p.update(discover_options={"bogus": 1}),
        "index-out-of-range": lambda p: p["removal"].update({next(iter(p["removal"])): [10**6]}),
        "unknown-layer": lambda p: p["removal"].update({"no.such.layer": [0]}),
        "created-bias-int": lambda p: p.update(repair={"created_biases": [3]}),
    }


@pytest.mark.parametrize("case", list(_tamper_cases()))
def test_tampered_plan_is_refused_and_the_model_is_unchanged(tmp_path, case):
    from causalnet.fingerprint import model_fingerprint

    torch.manual_seed(0)
    source = FoldCNN(seed=0)
    fresh = copy.deepcopy(source)
    model, plan, _ = _prune(source, (1, 10, 10))
    save_pruned(model, plan, tmp_path, {})
    saved = json.loads((tmp_path / "plan.json").read_text())
    _tamper_cases()[case](saved)
    (tmp_path / "plan.json").write_text(json.dumps(saved))
    before = model_fingerprint(fresh)
    with pytest.raises(CausalnetInputError):
        load_pruned(fresh, tmp_path)
    assert model_fingerprint(fresh) == before


@pytest.mark.parametrize("text", ["[" * 1500 + "]" * 1500, "null", "{" , '"plan"'])
def test_unreadable_plan_files_are_refused(tmp_path, text):
    (tmp_path / "plan.json").write_text(text)
    with pytest.raises(PlanFormatError):
        load_pruned(FoldCNN(seed=0), tmp_path)


@pytest.fixture(scope="module")
def saved_plan(tmp_path_factory):
    torch.manual_seed(0)
    source = FoldCNN(seed=0)
    model, plan, _ = _prune(source, (1, 10, 10))
    folder = tmp_path_factory.mktemp("pruned")
    save_pruned(model, plan, folder, {})
    return folder, json.loads((folder / "plan.json").read_text())


def test_mutated_plans_load_or_are_refused_leaving_the_model_unchanged(saved_plan, tmp_path_factory):
    import shutil

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from causalnet.errors import CausalnetError
    from causalnet.fingerprint import model_fingerprint

    from ..fuzz import mutate_json

    folder, plan = saved_plan
    work = tmp_path_factory.mktemp("mutated")
    shutil.copy(folder / "pruned.safetensors", work / "pruned.safetensors")
    before = model_fingerprint(FoldCNN(seed=0))

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(data=st.data())
    def check(data):
        d = json.loads(json.dumps(plan))
        mutate_json(d, data)
        (work / "plan.json").write_text(json.dumps(d, allow_nan=True))
        model = FoldCNN(seed=0)
        try:
            load_pruned(model, work)
        except CausalnetError:
            assert model_fingerprint(model) == before

    check()
