"""Models by spec string: the zoo, torchvision, timm, or any ``module:factory`` of the user's.

Model specs::

    zoo:NAME                              a shipped reference model (see `causalnet zoo list`)
    torchvision:NAME[?k=v&..][@WEIGHTS]   any torchvision classification model
    timm:NAME[?k=v&..][@CHECKPOINT]       any timm model
    package.module:factory[?k=v&..][@STATE_DICT]   the user's own factory function
    PATH.pt                               a whole pickled model (only with trust=True / --trust)

Weights files are ``.safetensors`` or PyTorch files read with ``weights_only=True``; a file that
needs full unpickling is refused unless the caller trusts it.
"""

from __future__ import annotations

import importlib
import os
import pickle
import sys
from pathlib import Path

import torch
from torch import nn

from .errors import CausalnetInputError, SpecError, UntrustedPickleError
from .specs import Spec, option_value, parse_spec

MODEL_SPEC_HELP = ("zoo:NAME | torchvision:NAME[@WEIGHTS] | timm:NAME[@CHECKPOINT] | "
                   "package.module:factory[@STATE_DICT] | PATH.pt (with --trust)")


def _trust_hint(path: Path) -> str:
    return (f"{str(path)!r} holds pickled Python objects, which can run arbitrary code when "
            "loaded; pass --trust (trust=True) only if you trust its source, or save a plain "
            "state_dict / .safetensors instead")


def load_weights_file(path: str | os.PathLike, *, trust: bool = False):
    """Read a weights file: a state dict from ``.safetensors`` or a ``weights_only`` torch file;
    with ``trust`` also a fully pickled object (e.g. a whole ``nn.Module``)."""
    path = Path(path)
    if not path.is_file():
        raise CausalnetInputError(f"weights file {str(path)!r} does not exist")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as exc:
            raise CausalnetInputError(f"{str(path)!r} is not a readable .safetensors file: {exc}") from None
    if not _looks_like_torch_file(path):
        raise CausalnetInputError(
            f"{str(path)!r} is not a PyTorch weights file (neither a torch.save zip archive nor a "
            "pickle; truncated, or another kind of file?); pass a .safetensors or .pt/.pth file")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "global" not in str(exc).lower():   # not objects needing trust: a damaged file
            detail = str(exc).split("WeightsUnpickler error:")[-1].strip().split("\n")[0]
            raise CausalnetInputError(f"cannot read weights file {str(path)!r}: it is damaged or not "
                                      f"a PyTorch file ({detail})") from None
        if not trust:
            raise UntrustedPickleError(_trust_hint(path)) from exc
    except Exception as exc:
        raise CausalnetInputError(f"cannot read weights file {str(path)!r}: {exc}") from None
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:
        raise CausalnetInputError(f"cannot read weights file {str(path)!r} even with --trust "
                                  f"({type(exc).__name__}: {exc}); the file is damaged or not a "
                                  "PyTorch file") from None


def _looks_like_torch_file(path: Path) -> bool:
    """Whether the file starts like ``torch.save`` output: a zip archive, or a pickle
    (protocol 2+ starts with 0x80; the legacy format also starts with a pickle)."""
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError as exc:
        raise CausalnetInputError(f"cannot read weights file {str(path)!r}: {exc.strerror}") from None
    return head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"


def _as_state_dict(obj, path: str) -> dict[str, torch.Tensor]:
    if isinstance(obj, nn.Module):
        return obj.state_dict()
    if isinstance(obj, dict):
        for key in ("state_dict", "model_state_dict", "model", "state_dict_ema"):
            inner = obj.get(key)
            if isinstance(inner, dict) and inner and all(isinstance(v, torch.Tensor) for v in inner.values()):
                obj = inner
                break
        if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            prefix = "module."
            if all(k.startswith(prefix) for k in obj):
                obj = {k[len(prefix):]: v for k, v in obj.items()}
            return obj
    raise CausalnetInputError(f"{path!r} does not hold a state dict (a mapping of names to tensors)")


def load_state_into(model: nn.Module, obj, path: str) -> nn.Module:
    """Load ``obj`` (a state dict or a checkpoint holding one) into ``model``, strictly, with an
    error that names the mismatching keys."""
    state = _as_state_dict(obj, path)
    own = model.state_dict()
    problems = [f"{k}: file {tuple(v.shape)} vs model {tuple(own[k].shape)}"
                for k, v in state.items() if k in own and own[k].shape != v.shape][:3]
    if problems:
        raise CausalnetInputError(
            f"weights in {path!r} do not fit this architecture (shape mismatch: {'; '.join(problems)}). "
            "Check the model name and options such as ?num_classes=N")
    result = model.load_state_dict(state, strict=False)
    if result.missing_keys:
        problems.append(f"missing {len(result.missing_keys)} (e.g. {result.missing_keys[:3]})")
    if result.unexpected_keys:
        problems.append(f"unexpected {len(result.unexpected_keys)} (e.g. {result.unexpected_keys[:3]})")
    if problems:
        raise CausalnetInputError(
            f"weights in {path!r} do not fit this architecture: {'; '.join(problems)}. "
            "Check the model name and options such as ?num_classes=N")
    return model


def _kwargs(spec: Spec) -> dict:
    return {k: option_value(v) for k, v in spec.options.items()}


def _torchvision(spec: Spec) -> nn.Module:
    import torchvision

    if not spec.body:
        raise SpecError("model spec 'torchvision:' needs a model name, e.g. torchvision:resnet18")
    available = torchvision.models.list_models(module=torchvision.models)
    if spec.body not in available:
        close = [n for n in available if spec.body.split("_")[0] in n][:8]
        raise SpecError(f"torchvision has no classification model {spec.body!r}"
                        + (f"; close names: {', '.join(close)}" if close else ""))
    try:
        return torchvision.models.get_model(spec.body, weights=None, **_kwargs(spec))
    except TypeError as exc:
        raise SpecError(f"bad options for torchvision:{spec.body}: {exc}") from None


def _timm(spec: Spec) -> nn.Module:
    import timm

    if not spec.body:
        raise SpecError("model spec 'timm:' needs a model name, e.g. timm:deit_tiny_patch16_224")
    if not timm.is_model(spec.body):
        close = timm.list_models(f"*{spec.body.split('_')[0]}*")[:8]
        raise SpecError(f"timm has no model {spec.body!r}"
                        + (f"; close names: {', '.join(close)}" if close else ""))
    try:
        return timm.create_model(spec.body, pretrained=False, **_kwargs(spec))
    except TypeError as exc:
        raise SpecError(f"bad options for timm:{spec.body}: {exc}") from None


def _factory(spec: Spec) -> nn.Module:
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(spec.kind)
    except (ImportError, TypeError, ValueError) as exc:   # TypeError: a relative name such as '.'
        raise SpecError(f"cannot import module {spec.kind!r} named in model spec {spec.text!r} "
                        f"({exc}); use one of: {MODEL_SPEC_HELP}") from None
    factory = getattr(module, spec.body or "", None)
    if not callable(factory):
        raise SpecError(f"module {spec.kind!r} has no callable {spec.body!r}")
    try:
        model = factory(**_kwargs(spec))
    except TypeError as exc:   # an option the factory does not take
        raise SpecError(f"bad options for {spec.kind}:{spec.body}: {exc}") from None
    if not isinstance(model, nn.Module):
        raise SpecError(f"{spec.kind}:{spec.body} returned {type(model).__name__}, not a torch nn.Module")
    return model


def load_model(spec: str, *, trust: bool = False) -> nn.Module:
    """Build the model a spec string names (see the module docstring), with its weights loaded,
    in eval mode."""
    parsed = parse_spec(spec, what="model spec")
    kind = parsed.kind
    if kind == "zoo":
        from .zoo import load_zoo_model

        if not parsed.body:
            raise SpecError("model spec 'zoo:' needs a name, e.g. zoo:resnet20 (see `causalnet zoo list`)")
        if parsed.options:
            raise SpecError(f"zoo models take no options, got {sorted(parsed.options)} in {spec!r}; "
                            "drop the '?...' part")
        model = load_zoo_model(parsed.body)
    elif kind == "torchvision":
        model = _torchvision(parsed)
    elif kind == "timm":
        model = _timm(parsed)
    elif parsed.body is None:
        path = Path(parsed.text if parsed.path is None else parsed.text)
        if not path.exists():
            raise SpecError(f"model spec {spec!r} is neither a known kind nor an existing file; "
                            f"use one of: {MODEL_SPEC_HELP}")
        obj = load_weights_file(path, trust=trust)
        if not isinstance(obj, nn.Module):
            raise SpecError(f"{str(path)!r} holds weights, not a whole model; name the architecture, "
                            f"e.g. torchvision:resnet18@{path}")
        return obj.eval()
    else:
        model = _factory(parsed)
    if parsed.path is not None and kind != "zoo":
        load_state_into(model, load_weights_file(parsed.path, trust=trust), parsed.path)
    elif parsed.path is not None:
        raise SpecError("zoo models carry their own weights; drop the '@' part or use "
                        "module:factory@weights for other weights")
    return model.eval()
