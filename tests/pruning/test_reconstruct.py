"""Least-squares repair: readers re-solved to give their original outputs; plans replay it."""

import pytest
import torch

from causalnet.units import discover_units
from pruning.io import load_pruned, make_plan, save_pruned
from pruning.reconstruct import kept_outputs
from pruning.repair import finalize

from ..causalnet.toy import tiny_cnn
from .nets import FoldCNN, random_removal, tiny_mlp


def _data(shape, n=64, seed=1):
    return torch.rand(n, *shape, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("make,shape", [(tiny_cnn, (1, 8, 8)), (FoldCNN, (1, 10, 10)), (tiny_mlp, (1, 4, 4))],
                         ids=["residual_cnn", "cnn", "mlp"])
def test_lsq_reproduces_the_original_outputs_better_than_mean_folding(make, shape):
    model = make().eval()
    x = _data(shape)
    units = discover_units(model, x[:1])
    removal = random_removal(units, fraction=0.3, seed=3)
    with torch.inference_mode():
        target = model(x)
    errors = {}
    for repair in (("bias",), ("lsq",)):
        pruned, changed = finalize(model, removal, x, repair, x[:1])
        with torch.inference_mode():
            errors[repair] = float((pruned(x) - target).pow(2).mean())
        if repair == ("lsq",):
            assert changed["reconstructed"], "no reader was re-solved"
    assert errors[("lsq",)] < errors[("bias",)]


def test_kept_outputs_follow_removed_producers():
    model = tiny_cnn()
    units = discover_units(model, torch.zeros(1, 1, 8, 8))
    removal = {"conv3": [1, 4], "fc1": [0, 5, 7]}
    kept = kept_outputs(model, units, removal)
    assert kept["fc1"].tolist() == [i for i in range(12) if i not in (0, 5, 7)]  # reads conv3, writes fc1
    assert kept["fc2"].tolist() == list(range(4))


def test_lsq_repaired_model_replays_from_its_plan(tmp_path):
    model = tiny_cnn().eval()
    x = _data((1, 8, 8))
    units = discover_units(model, x[:1])
    removal = random_removal(units, fraction=0.3, seed=5)
    pruned, changed = finalize(model, removal, x, ("lsq", "bn"), x[:1])
    plan = make_plan(model, removal, (1, 8, 8), repair=changed)
    save_pruned(pruned, plan, tmp_path, {"note": "test"})
    replayed = load_pruned(tiny_cnn(), tmp_path)
    with torch.inference_mode():
        assert torch.equal(replayed(x), pruned(x))


@pytest.mark.parametrize("make,shape", [(FoldCNN, (1, 10, 10)), (tiny_mlp, (1, 4, 4))], ids=["cnn", "mlp"])
def test_masked_reconstruction_computes_what_removal_plus_lsq_computes(make, shape):
    """The planner's in-loop repair (readers re-solved on the full-size masked copy) gives the
    outputs of the model removed physically and re-solved by finalize(..., ("lsq",))."""
    import copy

    from causalnet.masking import UnitMask
    from pruning.cswap import _add_zero_biases
    from pruning.reconstruct import reconstruct_masked

    model = make().eval()
    x = _data(shape, n=200)
    units = discover_units(model, x[:1])
    removal = random_removal(units, fraction=0.3, seed=5)
    pruned, _ = finalize(model, removal, x, ("lsq",), x[:1])
    work = copy.deepcopy(model).eval()
    work_units = discover_units(work, x[:1])
    _add_zero_biases(work, work_units)
    mask = UnitMask(work, work_units)
    try:
        mask.set_off({k: set(v) for k, v in removal.items()})
        mask.refresh(x)
        assert reconstruct_masked(work, model, mask._masks, x)
        mask.refresh(x)
        with torch.inference_mode():
            torch.testing.assert_close(work(x), pruned(x), atol=1e-3, rtol=1e-3)
    finally:
        mask.close()
