"""Training-free repair: removal + mean folding == mean ablation; BatchNorm re-estimation."""

import copy

import pytest
import torch
from torch import nn

from causalnet.interventions import Ablation, InterventionEngine
from causalnet.masking import reader_means
from causalnet.models import load_model
from causalnet.units import discover_units
from causalnet.zoo import zoo_entry
from pruning.removal import prune_units
from pruning.repair import fold_means, reestimate_batchnorm

from .nets import FoldCNN, mean_ablated, random_removal, tiny_mlp

DEIT = "timm:deit_tiny_patch16_224?img_size=32&patch_size=8&num_classes=5"


def _data(shape, n=40, seed=1):
    return torch.rand(n, *shape, generator=torch.Generator().manual_seed(seed))


def _fold_and_prune(model, units, removal, means, x1):
    pruned = copy.deepcopy(model)
    changed = fold_means(pruned, units, removal, means)
    prune_units(pruned, units, removal, x1)
    return pruned, changed


@pytest.mark.parametrize("make,shape", [(FoldCNN, (1, 10, 10)), (tiny_mlp, (1, 4, 4))],
                         ids=["cnn", "mlp"])
def test_removal_with_folded_means_is_mean_ablation(make, shape):
    model = make()
    x = _data(shape)
    units = discover_units(model, x[:1])
    means = reader_means(model, units, x)
    removal = random_removal(units, fraction=0.4, seed=2)
    pruned, changed = _fold_and_prune(model, units, removal, means, x[:1])
    with torch.no_grad():
        out = pruned(x)
    torch.testing.assert_close(out, mean_ablated(model, units, removal, means, x), atol=1e-4, rtol=1e-4)
    if make is FoldCNN:   # every route was taken: bias, BatchNorm running mean, created bias
        assert changed == {"biases": ["fc1", "fc2"], "batchnorms": ["bn2"],
                           "created_biases": ["conv3"]}
        assert isinstance(pruned.conv3.bias, nn.Parameter)
    # and it is exactly what the intervention engine calls mean ablation, unit by unit
    engine = InterventionEngine(model, units, x, ablation=Ablation("mean"))
    for layer in units:
        ablated = engine.ablate(layer, [1])[0]
        one, _ = _fold_and_prune(model, units, {layer.name: [1]}, engine.means, x[:1])
        with torch.no_grad():
            torch.testing.assert_close(one(x), ablated, atol=1e-4, rtol=1e-4)


def test_conv_fold_is_exact_away_from_padded_borders():
    model = FoldCNN(padding=1)
    x = _data((1, 10, 10))
    units = discover_units(model, x[:1])
    means = reader_means(model, units, x)
    removal = {"conv1": [0, 3]}                 # read by conv2 (3x3, padding 1)
    pruned, _ = _fold_and_prune(model, units, removal, means, x[:1])
    captured = {}
    pruned.bn2.register_forward_hook(lambda m, a, out: captured.__setitem__("out", out))
    with torch.no_grad():
        pruned(x)
    ref = mean_ablated(model, units, removal, means, x, capture="bn2")
    inner = (slice(None), slice(None), slice(1, -1), slice(1, -1))
    torch.testing.assert_close(captured["out"][inner], ref[inner], atol=1e-4, rtol=1e-4)
    assert (captured["out"] - ref).abs().max() > 1e-3        # the borders differ, as documented


def test_fold_on_timm_heads_and_mlp_is_mean_ablation():
    model = load_model(DEIT).eval()
    x = _data((3, 32, 32), n=6)
    units = discover_units(model, x[:1])
    means = reader_means(model, units, x)
    removal = {"blocks.1.attn": [2], "blocks.1.mlp.fc1": list(range(0, 768, 5))}
    pruned, changed = _fold_and_prune(model, units, removal, means, x[:1])
    assert changed["biases"] == ["blocks.1.attn.proj", "blocks.1.mlp.fc2"]
    with torch.no_grad():
        torch.testing.assert_close(pruned(x), mean_ablated(model, units, removal, means, x),
                                   atol=1e-4, rtol=1e-4)


def test_batchnorm_reestimation_sets_the_calibration_statistics():
    model = zoo_entry("resnet20").build().eval()
    x = _data((1, 28, 28), n=64)
    bn = model.bn1                               # reads conv1 directly: a known input
    with torch.no_grad():
        bn.running_mean.fill_(5.0)
        h = model.conv1(x)
    momentum = bn.momentum
    reestimate_batchnorm(model, x, batch_size=16)
    assert not model.training and bn.momentum == momentum and bn.num_batches_tracked == 4
    # cumulative average over the 4 batches: their means, and their unbiased variances
    torch.testing.assert_close(bn.running_mean, h.mean(dim=(0, 2, 3)), atol=1e-5, rtol=1e-4)
    var = torch.stack([b.var(dim=(0, 2, 3)) for b in h.split(16)]).mean(0)
    torch.testing.assert_close(bn.running_var, var, atol=1e-5, rtol=1e-4)


def test_batchnorm_statistics_copied_back_from_the_original():
    from causalnet.errors import CausalnetInputError
    from pruning.repair import copy_batchnorm_statistics

    model = zoo_entry("resnet20").build().eval()
    work = copy.deepcopy(model)
    reestimate_batchnorm(work, _data((1, 28, 28), n=32))
    assert not torch.equal(work.bn1.running_mean, model.bn1.running_mean)
    copy_batchnorm_statistics(work, model)
    for (name, a), b in zip(work.named_buffers(), model.buffers(), strict=True):
        if "running" in name:
            assert torch.equal(a, b), name
    with pytest.raises(CausalnetInputError, match="counterpart"):
        copy_batchnorm_statistics(work, tiny_mlp())


def test_batchnorm_reestimation_keeps_dropout_off_and_is_a_noop_without_batchnorm():
    model = zoo_entry("vgg11_bn").build().eval()
    x = _data((1, 28, 28), n=33)
    before = copy.deepcopy(model.state_dict())
    reestimate_batchnorm(model, x, batch_size=16)          # batches 16, 17 (no batch of one)
    changed = [k for k, v in model.state_dict().items() if not torch.equal(v, before[k])]
    assert changed and all("running" in k or "num_batches" in k for k in changed)
    repeat = copy.deepcopy(model)
    reestimate_batchnorm(repeat, x, batch_size=16)         # dropout off: deterministic
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in repeat.state_dict().items())
    mlp = tiny_mlp()
    state = copy.deepcopy(mlp.state_dict())
    assert reestimate_batchnorm(mlp, _data((1, 4, 4))) is mlp
    assert all(torch.equal(v, mlp.state_dict()[k]) for k, v in state.items())
