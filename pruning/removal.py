"""Physical removal of units (METHOD.md section 5.7).

A unit layer of :func:`causalnet.units.discover_units` is a Torch-Pruning group: removing unit
``u`` removes output channel ``producer_index[root][u]`` of every coupled module (convs, their
BatchNorms, the readers' input channels, flatten offsets included). :func:`prune_units` does that
with one ``DependencyGraph`` for the whole removal, layer by layer: each layer's indices refer to
its own channels, which removing another layer never renumbers.

Attention heads of timm ``Attention`` are removed by hand (Torch-Pruning's graph does not update
``num_heads``): the head's q, k and v rows of ``qkv`` (rows ``h*d .. (h+1)*d`` of each of the three
E-wide blocks) and its input columns of ``proj``; ``num_heads`` and ``attn_dim`` are updated so the
stock timm forward runs (``head_dim`` is unchanged). torchvision's fused ``nn.MultiheadAttention``
cannot lose a head without replacing the module, so its heads are refused (its MLP neurons can go).

What each removal costs (parameters and MACs) is :mod:`pruning.costs`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

import torch
from torch import nn

from causalnet.devices import model_device
from causalnet.errors import CausalnetInputError
from causalnet.units import HEAD, UnitLayer, UnitMap, discover_units

if TYPE_CHECKING:
    from torch_pruning import DependencyGraph

Removal = Mapping[str, Iterable[int]]


# ---- helpers ---------------------------------------------------------------------------------
def _modules(model: nn.Module) -> dict[str, nn.Module]:
    return dict(model.named_modules())


def is_fused_attention(layer: UnitLayer, model: nn.Module) -> bool:
    """Whether ``layer`` holds the heads of a torchvision ``nn.MultiheadAttention``."""
    if layer.kind != HEAD:
        return False
    return isinstance(_modules(model).get(layer.producers[0]), nn.MultiheadAttention)


def removable_layers(model: nn.Module, units: UnitMap) -> list[UnitLayer]:
    """The unit layers whose units :func:`prune_units` can remove (all but fused-MHA heads)."""
    return [layer for layer in units if not is_fused_attention(layer, model)]


def _current_size(layer: UnitLayer, modules: dict[str, nn.Module]) -> int | None:
    """The layer's size in the model as it is now (to catch a stale unit map)."""
    root = modules.get(layer.producers[0])
    if layer.kind == HEAD:
        return getattr(root, "num_heads", None)
    if isinstance(root, nn.Conv2d):
        return root.out_channels
    if isinstance(root, nn.Linear):
        return root.out_features
    return None


def _size_at_discovery(layer: UnitLayer) -> int:
    if layer.kind == HEAD:
        return layer.size
    return len(layer.producer_index[layer.producers[0]])


def normalize_removal(model: nn.Module, units: UnitMap, removal: Removal) -> dict[str, list[int]]:
    """``removal`` checked and sorted: known layers, integer indices in range, no duplicates, at
    least one unit kept per layer, removable kinds only, and a unit map that describes ``model``
    as it is now. Layers with nothing to remove are dropped. Raises CausalnetInputError."""
    modules = _modules(model)
    names = [layer.name for layer in units]
    out: dict[str, list[int]] = {}
    for name, idxs in removal.items():
        if name not in names:
            raise CausalnetInputError(f"cannot remove units of {name!r}: no such unit layer; "
                                      f"layers: {names}")
        layer = units.layer(name)
        values = list(idxs)
        try:
            idx = sorted({int(i) for i in values})
            integral = all(float(i) == int(i) for i in values)
        except (TypeError, ValueError, RuntimeError):
            integral = False
        if not integral:
            raise CausalnetInputError(f"unit indices of {name!r} must be integers, got {values!r}")
        if not idx:
            continue
        if idx[0] < 0 or idx[-1] >= layer.size:
            bad = [i for i in idx if i < 0 or i >= layer.size]
            raise CausalnetInputError(f"unit layer {name!r} has units 0..{layer.size - 1}; "
                                      f"indices out of range: {bad[:10]}")
        if len(idx) >= layer.size:
            raise CausalnetInputError(f"removing all {layer.size} units of {name!r} would empty the "
                                      "layer; keep at least one unit per layer")
        if is_fused_attention(layer, model):
            raise CausalnetInputError(
                f"cannot remove heads of {name!r}: it is a torch nn.MultiheadAttention, whose fused "
                "forward needs embed_dim = num_heads * head_dim, so a head can only go by replacing the "
                "module's class. Remove its MLP neurons instead, or leave this layer out")
        now = _current_size(layer, modules)
        if now is not None and now != _size_at_discovery(layer):
            raise CausalnetInputError(
                f"the unit map was made before {name!r} changed (its root has {now} channels, "
                f"not {_size_at_discovery(layer)}): "
                "it was pruned since; rediscover the units (causalnet.units.discover_units)")
        out[name] = idx
    return out


@contextmanager
def _tracing(model: nn.Module):
    """Eval mode (tracing must not touch BatchNorm statistics), autograd on (Torch-Pruning traces
    the autograd graph) and Torch-Pruning's warnings muted; the mode is restored."""
    was = model.training
    model.eval()
    try:
        with torch.inference_mode(False), torch.enable_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        model.train(was)


def dependency_graph(model: nn.Module, example: torch.Tensor) -> DependencyGraph:
    """Torch-Pruning's ``DependencyGraph`` of ``model`` traced on ``example`` (eval mode)."""
    import torch_pruning as tp

    with _tracing(model):
        example = example.clone()         # a normal tensor even if made in inference mode
        return tp.DependencyGraph().build_dependency(model, example_inputs=example)


def root_pruning_fn(module: nn.Module) -> Callable:
    """Torch-Pruning's out-channel pruning function for a layer root."""
    import torch_pruning as tp

    if isinstance(module, nn.Conv2d):
        return tp.prune_conv_out_channels
    if isinstance(module, nn.Linear):
        return tp.prune_linear_out_channels
    raise CausalnetInputError(f"cannot prune output channels of a {type(module).__name__}")


def _remove_heads(attn: nn.Module, name: str, columns: list[torch.Tensor]) -> None:
    """Remove the heads whose ``proj`` input columns are ``columns`` from a timm Attention."""
    import torch_pruning as tp

    width = attn.proj.in_features
    if attn.qkv.out_features != 3 * width:
        raise CausalnetInputError(
            f"cannot remove heads of {name!r}: its qkv has {attn.qkv.out_features} outputs, not "
            f"3 x {width} (grouped-query or other attention variants are not supported)")
    head_dim = getattr(attn, "head_dim", width // attn.num_heads)
    cols = sorted(int(c) for t in columns for c in t.tolist())
    rows = [block * width + c for block in range(3) for c in cols]
    tp.prune_linear_out_channels(attn.qkv, rows)
    tp.prune_linear_in_channels(attn.proj, cols)
    if isinstance(getattr(attn, "gate", None), nn.Linear):
        tp.prune_linear_out_channels(attn.gate, cols)
    norm = getattr(attn, "norm", None)
    if isinstance(norm, nn.LayerNorm):
        tp.prune_layernorm_out_channels(norm, cols)
    elif norm is not None and not isinstance(norm, nn.Identity):
        raise CausalnetInputError(f"cannot remove heads of {name!r}: its {type(norm).__name__} "
                                  "over the heads' outputs is not supported")
    attn.num_heads -= len(columns)
    if hasattr(attn, "attn_dim"):
        attn.attn_dim = attn.num_heads * head_dim


# ---- removal ---------------------------------------------------------------------------------
def prune_units(model: nn.Module, units: UnitMap, removal: Removal,
                example: torch.Tensor, *, dg: DependencyGraph | None = None) -> nn.Module:
    """Physically remove ``removal`` (layer name -> unit indices) from ``model``, in place.

    ``units`` must describe ``model`` as it is now (discovered on it, before this removal);
    ``example`` is a batch of one input, used to trace the dependency graph (``dg``: a graph
    already traced on ``model``, reused by callers that remove several layers in turn). Returns
    ``model``.
    Raises CausalnetInputError for an unknown layer, an index out of range, a removal that would
    empty a layer, or heads of a torch ``nn.MultiheadAttention``.
    """
    removal = normalize_removal(model, units, removal)
    if not removal:
        return model
    modules = _modules(model)
    heads = [name for name in removal if units.layer(name).kind == HEAD]
    groups = [name for name in removal if name not in heads]
    if groups:
        dg = dg if dg is not None else dependency_graph(model, example)
        with _tracing(model), torch.no_grad():
            for name in groups:
                layer = units.layer(name)
                root_name = layer.producers[0]
                root = modules[root_name]
                idxs = [layer.producer_index[root_name][u] for u in removal[name]]
                dg.get_pruning_group(root, root_pruning_fn(root), idxs=idxs).prune()
    with torch.no_grad():
        for name in heads:       # last: the traced graph does not know head removals
            layer = units.layer(name)
            reader = layer.readers[0]
            _remove_heads(modules[name], name, [reader.index[u] for u in removal[name]])
    return model


def add_missing_biases(model: nn.Module, names: Iterable[str],
                       shapes: Mapping[str, torch.Size] | None = None) -> list[str]:
    """Give the Conv2d/Linear modules ``names`` a zero bias where they have none (bias folding
    creates one where no bias and no BatchNorm could absorb a removed unit's mean). Returns the
    names changed."""
    modules = _modules(model)
    added = []
    for name in names:
        module = modules.get(name)
        if not isinstance(module, nn.Conv2d | nn.Linear):
            raise CausalnetInputError(f"cannot add a bias to {name!r}: no Conv2d/Linear of that name")
        if module.bias is not None:
            continue
        n = module.out_channels if isinstance(module, nn.Conv2d) else module.out_features
        if shapes is not None and name in shapes:
            n = int(shapes[name][0])
        w = module.weight
        module.bias = nn.Parameter(torch.zeros(n, dtype=w.dtype, device=w.device))
        added.append(name)
    return added


def apply_plan(model: nn.Module, plan: Mapping, example: torch.Tensor | None = None) -> nn.Module:
    """Replay a saved plan's removal on a fresh instance of its source model (structure only:
    weights of the pruned model are loaded separately, see :func:`pruning.io.load_pruned`).

    ``example`` defaults to zeros of the plan's ``input_shape``. Biases the plan's repair created
    are added (as zeros) so the pruned state dict fits.
    """
    if example is None:
        shape = plan.get("input_shape")
        if not shape:
            raise CausalnetInputError("the plan has no input_shape; pass an example input")
        example = torch.zeros(1, *shape, device=model_device(model))
    units = discover_units(model, example, **dict(plan.get("discover_options") or {}))
    prune_units(model, units, plan["removal"], example)
    add_missing_biases(model, (plan.get("repair") or {}).get("created_biases", []))
    return model
