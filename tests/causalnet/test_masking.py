"""The hub's ablation primitive: switched_off, UnitMask and reader_means agree with the engine
and the naive loop, and never leave a hook behind."""

import pytest
import torch

from causalnet.errors import CausalnetInputError
from causalnet.interventions import Ablation, InterventionEngine, ablate_naive
from causalnet.masking import UnitMask, reader_means, switched_off

from .toy import tiny_cnn_case


@pytest.fixture(scope="module")
def cnn():
    return tiny_cnn_case()


def _hooks(model):
    return sum(len(m._forward_pre_hooks) for m in model.modules())


@torch.no_grad()
def test_one_unit_off_equals_the_naive_loop_and_the_engine(cnn):
    model, units, x = cnn
    means = reader_means(model, units, x)
    engine = InterventionEngine(model, units, x, ablation=Ablation("mean"))
    for name, value in engine.means.items():
        torch.testing.assert_close(means[name], value)
    for layer in units:
        for u in (0, layer.size - 1):
            with switched_off(units, {layer.name: [u]}):
                zero = model(x)
            torch.testing.assert_close(zero, ablate_naive(model, layer, u, x), atol=1e-5, rtol=1e-5)
            with switched_off(units, {layer.name: [u]}, values="mean", means=means):
                mean = model(x)
            torch.testing.assert_close(mean, engine.ablate(layer, [u])[0], atol=1e-5, rtol=1e-5)
    assert _hooks(model) == 0


@torch.no_grad()
def test_unit_mask_matches_switched_off_for_sets_across_layers(cnn):
    model, units, x = cnn
    off = {"conv1": [1, 4], "fc1": [0, 3, 11]}
    means = reader_means(model, units, x)
    with switched_off(units, off, values="mean", means=means):
        expected = model(x)
    with UnitMask(model, units, values="mean") as mask:
        mask.refresh(x)           # nothing off yet: the clean means
        mask.set_off(off)
        got = model(x)
        mask.set_off({})
        clean = model(x)
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(clean, model(x))
    assert _hooks(model) == 0


def test_hooks_are_removed_when_the_block_raises(cnn):
    model, units, _ = cnn
    with pytest.raises(RuntimeError, match="boom"), switched_off(units, {"fc1": [2]}):
        raise RuntimeError("boom")
    assert _hooks(model) == 0


@pytest.mark.parametrize("chosen,match", [({"nope": [0]}, "no unit layer"),
                                          ({"fc1": [12]}, "outside layer"),
                                          ({"fc1": [-1]}, "outside layer")])
def test_bad_unit_sets_are_refused(cnn, chosen, match):
    model, units, _ = cnn
    with pytest.raises(CausalnetInputError, match=match), switched_off(units, chosen):
        pass
    assert _hooks(model) == 0


def test_mean_ablation_without_means_says_how_to_get_them(cnn):
    _, units, _ = cnn
    with pytest.raises(CausalnetInputError, match="reader_means"), \
            switched_off(units, {"fc1": [0]}, values="mean"):
        pass
