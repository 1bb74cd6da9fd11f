"""Unit discovery on the architectures users bring (random weights, tiny inputs)."""

import warnings

import pytest
import torch

from causalnet.attention import mha_matches_reference
from causalnet.interventions import InterventionEngine, ablate_naive
from causalnet.models import load_model
from causalnet.units import HEAD, MLP, discover_units
from causalnet.zoo import zoo_entry

warnings.filterwarnings("ignore", module="torch_pruning")


@pytest.mark.parametrize("spec,units,layers", [
    ("zoo:lenet5", 226, 4),
    ("zoo:resnet20", 448, 12),
    ("zoo:vgg11_bn", 1632, 9),
    ("zoo:mobilenetv2", 1512, 13),
    ("zoo:vit_tiny", 6 * 4 + 6 * 128, 12),
    ("torchvision:resnet18", 2880, 12),
    ("torchvision:mobilenet_v2", 9128, 25),
])
def test_discovery_counts(spec, units, layers):
    model = zoo_entry(spec[4:]).build() if spec.startswith("zoo:") else load_model(spec)
    shape = (1, 1, 28, 28) if spec.startswith("zoo:") else (1, 3, 64, 64)
    found = discover_units(model, torch.randn(*shape))
    assert (found.n_units, len(found)) == (units, layers)
    # every unit layer is read somewhere, and a unit's inputs never overlap another's
    for layer in found:
        for reader in layer.readers:
            flat = torch.cat(reader.index)
            assert len(flat) == len(set(flat.tolist()))


def test_timm_deit_heads_and_mlp():
    model = load_model("timm:deit_tiny_patch16_224?img_size=32&patch_size=8&num_classes=5")
    found = discover_units(model, torch.randn(1, 3, 32, 32))
    kinds = [layer.kind for layer in found]
    assert kinds.count(HEAD) == 12 and kinds.count(MLP) == 12
    assert found.layer("blocks.0.attn").size == 3
    assert {s["reason"][:10] for s in found.skipped} >= {"coupled to", "q/k/v chan"}


def test_torchvision_vit_heads_are_intervened_exactly():
    torch.manual_seed(0)
    model = load_model("torchvision.models.vision_transformer:VisionTransformer?image_size=32"
                       "&patch_size=8&num_layers=2&num_heads=4&hidden_dim=32&mlp_dim=64&num_classes=5")
    torch.nn.init.normal_(model.heads.head.weight)   # torchvision zero-initialises the head
    mha = model.encoder.layers[0].self_attention
    assert mha_matches_reference(mha, torch.randn(2, 17, 32))
    x = torch.randn(4, 3, 32, 32)
    found = discover_units(model, x[:1])
    heads = found.layer("encoder.layers.encoder_layer_0.self_attention")
    assert heads.kind == HEAD and heads.size == 4
    engine = InterventionEngine(model, found, x)
    out = engine.ablate(heads, range(4))
    for h in range(4):
        torch.testing.assert_close(out[h], ablate_naive(model, heads, h, x), atol=1e-5, rtol=1e-5)
    assert (out - engine.clean).abs().max() > 1e-3
    assert "forward" not in mha.__dict__          # the fused forward is back


def test_frozen_parameters_are_discovered_and_stay_frozen():
    from causalnet.units import discover_units
    from causalnet.zoo import load_zoo_model

    model = load_zoo_model("lenet5")
    x = torch.zeros(1, 1, 28, 28)
    expected = [(layer.name, layer.size) for layer in discover_units(model, x)]
    for p in model.parameters():
        p.requires_grad_(False)
    assert [(layer.name, layer.size) for layer in discover_units(model, x)] == expected
    assert not any(p.requires_grad for p in model.parameters())
