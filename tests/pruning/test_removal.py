"""Physical removal on every supported architecture, and exact cost accounting."""

import copy
import warnings

import pytest
import torch

from causalnet.errors import CausalnetInputError
from causalnet.evaluate import count_macs_params
from causalnet.models import load_model
from causalnet.units import HEAD, discover_units
from causalnet.zoo import zoo_entry
from pruning.costs import removal_cost, unit_costs
from pruning.removal import prune_units, removable_layers

from .nets import mean_ablated, random_removal

warnings.filterwarnings("ignore", module="torch_pruning")

DEIT = "timm:deit_tiny_patch16_224?img_size=32&patch_size=8&num_classes=5"
TV_VIT = ("torchvision.models.vision_transformer:VisionTransformer?image_size=32&patch_size=8"
          "&num_layers=2&num_heads=4&hidden_dim=32&mlp_dim=64&num_classes=5")

ARCHS = [("zoo:lenet5", (1, 28, 28)), ("zoo:resnet20", (1, 28, 28)), ("zoo:vgg11_bn", (1, 28, 28)),
         ("zoo:mobilenetv2", (1, 28, 28)), ("zoo:vit_tiny", (1, 28, 28)),
         ("torchvision:resnet18", (3, 64, 64)), ("torchvision:mobilenet_v3_small", (3, 64, 64)),
         (DEIT, (3, 32, 32)), (TV_VIT, (3, 32, 32))]


def build(spec: str):
    torch.manual_seed(0)
    model = zoo_entry(spec[4:]).build() if spec.startswith("zoo:") else load_model(spec)
    return model.eval()


@pytest.mark.parametrize("spec,shape", ARCHS, ids=[a[0].split("?")[0] for a in ARCHS])
def test_physical_removal_runs_and_costs_are_exact(spec, shape):
    """A third of every removable layer goes; unit_costs predicted the params and MACs removed
    exactly (coupled layers included) and the pruned model runs with the units it should keep."""
    model = build(spec)
    x = torch.randn(2, *shape)
    units = discover_units(model, x[:1])
    names = [layer.name for layer in removable_layers(model, units)]
    removal = random_removal(units, names=names)
    costs = unit_costs(model, units, x[:1])
    assert set(costs) == set(names)
    macs0, params0 = count_macs_params(model, shape)
    pruned = prune_units(copy.deepcopy(model), units, removal, x[:1])
    macs1, params1 = count_macs_params(pruned, shape)
    assert params1 < params0
    assert removal_cost(costs, {k: len(v) for k, v in removal.items()}) == (params0 - params1,
                                                                            macs0 - macs1)
    with torch.no_grad():
        out = pruned(x)
    assert out.shape == (2, units.num_outputs) and torch.isfinite(out).all()
    after = {layer.name: layer.size for layer in discover_units(pruned, x[:1])}
    for layer in units:
        if layer.name in after:
            assert after[layer.name] == layer.size - len(removal.get(layer.name, []))


def test_heads_and_mlp_neurons_of_timm_vit_go_exactly():
    """Removing heads and MLP neurons equals zeroing their inputs at the readers (proj, fc2)."""
    model = build(DEIT)
    x = torch.randn(3, 3, 32, 32)
    units = discover_units(model, x[:1])
    removal = {"blocks.0.attn": [1], "blocks.3.attn": [0, 2], "blocks.3.mlp.fc1": list(range(0, 768, 3))}
    assert units.layer("blocks.3.attn").kind == HEAD
    ref = mean_ablated(model, units, removal, {}, x, value="zero")
    pruned = prune_units(copy.deepcopy(model), units, removal, x[:1])
    attn = pruned.blocks[3].attn
    assert (attn.num_heads, attn.attn_dim, attn.head_dim) == (1, 64, 64)
    assert attn.qkv.out_features == 3 * 64 and attn.proj.in_features == 64
    with torch.no_grad():
        torch.testing.assert_close(pruned(x), ref, atol=1e-5, rtol=1e-4)


def test_torchvision_vit_mlp_neurons_go_but_heads_are_refused():
    model = build(TV_VIT)
    x = torch.randn(2, 3, 32, 32)
    units = discover_units(model, x[:1])
    heads = "encoder.layers.encoder_layer_0.self_attention"
    mlp = "encoder.layers.encoder_layer_0.mlp.0"
    assert heads not in [layer.name for layer in removable_layers(model, units)]
    with pytest.raises(CausalnetInputError, match="MultiheadAttention.*MLP neurons"):
        prune_units(model, units, {heads: [0]}, x[:1])
    ref = mean_ablated(model, units, {mlp: [0, 5, 9]}, {}, x, value="zero")
    prune_units(model, units, {mlp: [0, 5, 9]}, x[:1])
    assert model.encoder.layers[0].mlp[0].out_features == 61
    with torch.no_grad():
        torch.testing.assert_close(model(x), ref, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("spec,shape", [("zoo:lenet5", (1, 28, 28)), ("zoo:resnet20", (1, 28, 28)),
                                        (DEIT, (3, 32, 32))], ids=["lenet5", "resnet20", "deit"])
def test_one_layer_at_a_time_equals_all_at_once(spec, shape):
    model = build(spec)
    x = torch.randn(4, *shape)
    units = discover_units(model, x[:1])
    names = [layer.name for layer in units][:6]
    removal = random_removal(units, seed=3, names=names)
    together = prune_units(copy.deepcopy(model), units, removal, x[:1])
    stepwise = copy.deepcopy(model)
    for name in reversed(list(removal)):
        prune_units(stepwise, units, {name: removal[name]}, x[:1])
    with torch.no_grad():
        torch.testing.assert_close(stepwise(x), together(x), atol=1e-6, rtol=1e-5)


def test_bad_removals_are_refused_and_leave_the_model_alone():
    model = build("zoo:lenet5")
    x = torch.randn(1, 1, 28, 28)
    units = discover_units(model, x)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    cases = [({"conv1": list(range(6))}, "empty the layer"),
             ({"nope": [0]}, "no such unit layer"),
             ({"conv2": [16]}, "out of range"),
             ({"conv2": [-1]}, "out of range"),
             ({"conv2": [0.5]}, "integers")]
    for removal, message in cases:
        with pytest.raises(CausalnetInputError, match=message):
            prune_units(model, units, removal, x)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())
    prune_units(model, units, {"conv2": [1]}, x)
    with pytest.raises(CausalnetInputError, match="rediscover"):
        prune_units(model, units, {"conv2": [2]}, x)      # the unit map is stale now


def test_coupled_layers_share_weights_in_the_cost_model():
    model = build("zoo:lenet5")
    x = torch.randn(1, 1, 28, 28)
    costs = unit_costs(model, discover_units(model, x), x)
    # one conv2 channel and one fc1 neuron share 25 fc1 weights
    assert costs["conv2"]["coupled"]["fc1"]["params"] == 25
    assert costs["conv1"]["params_per_unit"] == 25 + 1 + 16 * 25
    assert costs.params == count_macs_params(model, (1, 28, 28))[1]
