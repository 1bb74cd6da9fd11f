import sys
import textwrap

import pytest
import torch
from torch import nn

from causalnet.cli import main
from causalnet.errors import CausalnetInputError, SpecError, UntrustedPickleError
from causalnet.models import load_model
from causalnet.zoo import ZOO


@pytest.mark.parametrize("name", list(ZOO))
def test_every_zoo_model_builds_from_its_spec(name):
    model = load_model(f"zoo:{name}")
    assert not model.training
    with torch.inference_mode():
        assert model(torch.randn(2, 1, 28, 28)).shape == (2, 10)


@pytest.mark.parametrize("spec,shape", [("torchvision:resnet18", (1, 3, 64, 64)),
                                        ("torchvision:vit_b_16", (1, 3, 224, 224))])
def test_torchvision_models_from_spec(spec, shape):
    model = load_model(spec)
    with torch.inference_mode():
        assert model(torch.randn(*shape)).shape == (1, 1000)


def test_timm_model_with_options():
    model = load_model("timm:vit_tiny_patch16_224?num_classes=7&img_size=32&patch_size=8")
    with torch.inference_mode():
        assert model(torch.randn(1, 3, 32, 32)).shape == (1, 7)


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    (tmp_path / "my_models.py").write_text(textwrap.dedent("""
        from torch import nn
        def tiny(width=4):
            return nn.Sequential(nn.Flatten(), nn.Linear(16, width), nn.ReLU(), nn.Linear(width, 3))
    """))
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    sys.modules.pop("my_models", None)


def test_user_factory_with_state_dict_and_pickle_rules(user_module):
    torch.manual_seed(0)
    reference = load_model("my_models:tiny?width=5")
    torch.save(reference.state_dict(), user_module / "sd.pt")
    loaded = load_model("my_models:tiny?width=5@sd.pt")
    x = torch.randn(2, 1, 4, 4)
    assert torch.equal(loaded(x), reference(x))
    # a wrong architecture for the weights names the mismatch
    with pytest.raises(CausalnetInputError, match="do not fit"):
        load_model("my_models:tiny?width=6@sd.pt")
    # a whole pickled model needs trust
    torch.save(reference, user_module / "whole.pt")
    with pytest.raises(UntrustedPickleError, match="--trust"):
        load_model("whole.pt")
    assert torch.equal(load_model("whole.pt", trust=True)(x), reference(x))
    with pytest.raises(CausalnetInputError, match="does not exist"):
        load_model("my_models:tiny@missing.pt")


def test_bad_specs_raise_spec_errors():
    with pytest.raises(SpecError, match="available: lenet5"):
        load_model("zoo:resnet99")
    with pytest.raises(SpecError, match="torchvision has no"):
        load_model("torchvision:resnet1000")
    with pytest.raises(SpecError, match="cannot import"):
        load_model("no_such_pkg.models:net")


@pytest.mark.parametrize("argv,needle", [
    (["eval", "--model", "zoo:resnet99"], "available"),
    (["eval", "--model", "torchvision:resnet18@/nonexistent/w.pth"], "does not exist"),
    (["eval", "--model", "zoo:lenet5", "--data", "cifar10"], "unknown dataset"),
])
def test_cli_bad_input_exits_2_with_reason(argv, needle, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1


def test_cli_pickle_without_trust_exits_2(user_module, capsys):
    torch.save(nn.Linear(2, 2), user_module / "whole.pt")
    assert main(["eval", "--model", "whole.pt"]) == 2
    assert "--trust" in capsys.readouterr().err


def test_cli_model_data_shape_mismatch_exits_2(capsys):
    assert main(["eval", "--model", "zoo:lenet5", "--data", "digits:test", "-q"]) == 2
    assert "shape" in capsys.readouterr().err


def test_every_subcommand_help_has_an_example(capsys):
    from causalnet.cli import build_parser

    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    assert {"zoo", "eval", "demo"} <= set(commands)
    for name, sub in commands.items():
        assert "example" in sub.format_help(), name


def test_zoo_list_shows_every_model_including_the_planted_ones(capsys):
    from causalnet.cli import main
    from causalnet.zoo.registry import PLANTED, ZOO

    assert main(["zoo", "list"]) == 0
    listed = {line.split()[0] for line in capsys.readouterr().out.splitlines()[1:]}
    assert set(ZOO) | set(PLANTED) <= listed
