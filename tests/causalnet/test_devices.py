"""``--device``: the check of what the user asked for, and the engine's device plumbing.

No GPU is lent to CI, so the plumbing is checked with torch's FakeTensorMode: the model's
parameters become fake CUDA tensors (shapes and devices, no data), and any op that mixes a CUDA
tensor with a CPU one raises, exactly as it would on a real GPU. Every intervention mode runs its
``ablate`` that way on the zoo architectures, node and path interventions, split or not. What
fake tensors cannot run (a backward on a fake device, values) is left to a real GPU:
``benchmarks/device_check.py``.
"""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from causalnet.cli import main
from causalnet.devices import model_device, resolve_device
from causalnet.errors import CausalnetInputError
from causalnet.evaluate import predict_logits
from causalnet.interventions import Ablation, InterventionEngine
from causalnet.masking import reader_means, switched_off
from causalnet.memory import SplitEngine
from causalnet.units import discover_units
from causalnet.zoo.architectures import lenet5, resnet20, vit_tiny

fake_tensor = pytest.importorskip("torch._subclasses.fake_tensor")
NO_CUDA = not torch.cuda.is_available()


def test_resolve_device_accepts_the_cpu_and_names_the_fix_for_anything_else():
    assert resolve_device(None) == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(CausalnetInputError, match="cpu, cuda or cuda:N"):
        resolve_device("gpu0")
    with pytest.raises(CausalnetInputError, match="only cpu and cuda"):
        resolve_device("meta")


@pytest.mark.skipif(not NO_CUDA, reason="this machine has a CUDA device")
def test_cuda_without_a_gpu_is_a_clear_error_and_the_cli_exits_2(tmp_path, capsys):
    with pytest.raises(CausalnetInputError, match="no CUDA device.*--device cpu"):
        resolve_device("cuda")
    code = main(["build", "--model", "zoo:lenet5", "--data", "digits", "--device", "cuda",
                 "--out", str(tmp_path / "g.json")])
    assert code == 2
    assert "--device cpu" in capsys.readouterr().err
    assert not (tmp_path / "g.json").exists()
    code = main(["prune", "--model", "zoo:lenet5", "--data", "digits", "--method", "l1",
                 "--target-params", "0.3", "--device", "cuda", "--out", str(tmp_path / "p")])
    assert code == 2
    assert "--device cpu" in capsys.readouterr().err
    assert not (tmp_path / "p").exists()


def test_an_explicit_cpu_device_gives_the_same_graph_and_pruned_model():
    from causalnet.builder import BuildSettings, GraphBuilder
    from causalnet.data import load_data
    from causalnet.zoo import load_zoo_model
    from pruning.api import prune

    model, data = load_zoo_model("lenet5"), load_data("mnist")
    settings = BuildSettings(classes=[0, 1], samples_per_class=6, calibration_per_class=3)
    plain = GraphBuilder(model, settings).build(data)
    on_cpu = GraphBuilder(model, settings, device="cpu").build(data)
    assert dict(plain.nx.nodes(data=True)) == dict(on_cpu.nx.nodes(data=True))
    assert list(plain.nx.edges(data=True)) == list(on_cpu.nx.edges(data=True))
    a, plan_a, _ = prune(model, data, method="l1", target_params=0.3, calibration_per_class=3)
    b, plan_b, _ = prune(model, data, method="l1", target_params=0.3, calibration_per_class=3,
                         device="cpu")
    assert plan_a["removal"] == plan_b["removal"]
    x = data.eval.images[:50]
    with torch.inference_mode():
        assert torch.equal(a(x), b(x))


def test_model_device_is_where_the_parameters_are():
    assert model_device(nn.Linear(2, 2)) == torch.device("cpu")
    assert model_device(nn.ReLU()) == torch.device("cpu")


@pytest.fixture
def fake_mode(monkeypatch):
    # tiny tensors are otherwise kept as real constants and moved for real (no driver here)
    monkeypatch.setattr(fake_tensor, "CONSTANT_NUMEL_LIMIT", 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield fake_tensor.FakeTensorMode(allow_non_fake_inputs=True)


def _to_fake_cuda(model: nn.Module, mode) -> nn.Module:
    for m in model.modules():
        for k, p in list(m._parameters.items()):
            if p is not None:
                m._parameters[k] = nn.Parameter(mode.from_tensor(p.detach()).to("cuda"),
                                                requires_grad=p.requires_grad)
        for k, b in list(m._buffers.items()):
            if b is not None:
                m._buffers[k] = mode.from_tensor(b).to("cuda")
    return model


@pytest.mark.parametrize("arch", [lenet5, resnet20, vit_tiny], ids=lambda a: a.__name__)
def test_every_intervention_runs_on_a_cuda_model_and_returns_cpu_results(arch, fake_mode):
    net = arch().eval()
    with fake_mode:
        _to_fake_cuda(net, fake_mode)
        assert model_device(net).type == "cuda"
        x = torch.randn(6, 1, 28, 28)          # CPU inputs, as the builder draws them
        units = discover_units(net, x[:1].to("cuda"))
        for mode in ("zero", "mean", "soft", "resample", "predicted"):
            engine = InterventionEngine(net, units, x, ablation=Ablation(mode), reference=x)
            assert engine.clean.device.type == "cpu"
            for layer in units.layers:
                out = engine.ablate(layer, [0, 1])
                assert out.device.type == "cpu" and out.shape[:2] == (2, 6)
                rd = layer.readers[0]
                if isinstance(rd.module, nn.Conv2d | nn.Linear):   # a path: unit -> output 0
                    path = engine.ablate(layer, [1], readers=[rd.name],
                                         splice={rd.name: torch.tensor([0])})
                    assert path.device.type == "cpu"
        split = SplitEngine(net, units, x, per=4, ablation=Ablation("mean"), reference=x)
        assert split.ablate(units.layers[0], [0]).shape[:2] == (1, 6)
        means = reader_means(net, units, x)
        first = units.layers[0]
        with switched_off(units, {first.name: [0, 1]}, values="mean", means=means):
            logits, labels = predict_logits(net, (x, torch.zeros(6, dtype=torch.long)))
        assert logits.device.type == "cpu" and logits.shape == (6, 10)


def test_the_fake_device_check_does_catch_a_cpu_tensor_meeting_a_cuda_one(fake_mode):
    """The check above is not vacuous: a mask left on the CPU fails under it."""
    with fake_mode:
        a = torch.ones(3, device="cuda")
        with pytest.raises(Exception, match="device"):
            a * torch.ones(3)
