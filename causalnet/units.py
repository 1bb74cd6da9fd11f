"""Units and unit layers, found automatically from the model (METHOD.md, section 1).

A *unit* is a structure a structured pruner can remove and an intervention can switch off:
a Conv2d output channel (with its BatchNorm channel), a Linear hidden neuron, an attention head,
a transformer MLP neuron. A *unit layer* is one coupled family of such units: unit ``i`` of a
layer is a *group* in Torch-Pruning's sense (e.g. channel ``i`` of every conv that writes one
residual stream), so switching it off is exactly what removing it does.

Units are switched off where they are *read*: every Conv2d/Linear that consumes the layer (its
``readers``, with the input channels each unit occupies there, flatten offsets included) sees
the intervened value. Groups and readers come from Torch-Pruning's ``DependencyGraph``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace

import torch
from torch import nn

from .attention import split_heads
from .errors import CausalnetInputError
from .nodes import CONV, HEAD, LINEAR, LOGIT_LAYER, MLP, UNIT_KINDS, node_id

__all__ = ["Reader", "UnitLayer", "UnitMap", "discover_units", "UnsupportedModuleError",
           "CONV", "LINEAR", "HEAD", "MLP", "UNIT_KINDS", "SUPPORTED_HELP"]

# Modules with parameters that units can live in or pass through.
_SUPPORTED = (nn.Conv2d, nn.Linear, nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm, nn.GroupNorm,
              nn.MultiheadAttention)
SUPPORTED_HELP = ("Conv2d (groups=1 or depthwise), Linear, BatchNorm, LayerNorm, GroupNorm, "
                  "multi-head attention with qkv/proj Linears and num_heads (timm Attention) and "
                  "batch-first self-attention nn.MultiheadAttention (torchvision ViT)")


class UnsupportedModuleError(CausalnetInputError):
    """The model holds a module whose units causalnet cannot identify."""


@dataclass
class Reader:
    """A module that reads a unit layer: unit ``i`` occupies input channels ``index[i]``."""

    name: str
    module: nn.Module
    channel_dim: int                  # 1 for (N, C, H, W) conv inputs, -1 for Linear inputs
    index: list[torch.Tensor]         # per unit: LongTensor of input channel/feature indices
    in_size: int                      # number of input channels/features of the reader

    def axis(self, ndim: int) -> int:
        """The channel axis of this reader's input when it has ``ndim`` dimensions."""
        return self.channel_dim if self.channel_dim >= 0 else ndim + self.channel_dim

    def channel_mean(self, t: torch.Tensor) -> torch.Tensor:
        """Mean of the input ``t`` per input channel (over the batch and every other axis)."""
        axis = self.axis(t.ndim)
        return t.float().mean(dim=[d for d in range(t.ndim) if d != axis])

    def mask(self, units: list[int]) -> torch.Tensor:
        """(len(units), in_size) 0/1 mask: row r marks the inputs of unit ``units[r]``."""
        m = torch.zeros(len(units), self.in_size)
        for r, u in enumerate(units):
            m[r, self.index[u]] = 1.0
        return m


@dataclass
class UnitLayer:
    """One family of coupled units (all switched off and pruned as one group per index)."""

    name: str
    kind: str
    size: int
    producers: list[str]              # modules that write the units (out channels / heads)
    producer_index: dict[str, list[int]]  # producer -> its output channel of each unit (if aligned)
    readers: list[Reader]
    order: int = 0
    members: list[str] = field(default_factory=list)  # every module Torch-Pruning couples here

    def node_id(self, unit: int) -> str:
        """The graph node id of unit ``unit`` (:func:`causalnet.nodes.node_id`)."""
        return node_id(self.name, unit, self.kind)

    def reader(self, name: str) -> Reader:
        for r in self.readers:
            if r.name == name:
                return r
        raise KeyError(f"{name!r} does not read unit layer {self.name!r}; its readers: "
                       f"{[r.name for r in self.readers]}")


@dataclass
class UnitMap:
    """All unit layers of a model, in execution order, and its output layer."""

    layers: list[UnitLayer]
    output_layer: str
    num_outputs: int
    skipped: list[dict] = field(default_factory=list)   # coupled families that are not units, why
    # False when the logits come out of a wrapper (index_select of a wider classifier, ...):
    # output_layer is then the last Linear/Conv2d, and class logits are read at the model output
    logits_direct: bool = True

    def __iter__(self):
        return iter(self.layers)

    def __len__(self):
        return len(self.layers)

    def layer(self, name: str) -> UnitLayer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise CausalnetInputError(f"no unit layer {name!r}; layers: {[x.name for x in self.layers]}")

    @property
    def n_units(self) -> int:
        return sum(layer.size for layer in self.layers)

    def bound_to(self, model: nn.Module) -> UnitMap:
        """This map for another instance of the same architecture (a deep copy, a working
        copy): the same layers and channel indices, each reader's module taken from ``model``
        by name, so units are discovered once and used on every copy.

        Raises:
            CausalnetInputError: when ``model`` lacks one of the readers.
        """
        modules = dict(model.named_modules())
        missing = sorted({r.name for layer in self.layers for r in layer.readers} - set(modules))
        if missing:
            raise CausalnetInputError(f"this model has no module(s) {missing[:3]}: the unit map was "
                                      "discovered on another architecture")
        layers = [replace(layer, readers=[replace(r, module=modules[r.name]) for r in layer.readers])
                  for layer in self.layers]
        return replace(self, layers=layers)

    def producers_of(self, name: str) -> list[str]:
        if name == LOGIT_LAYER:
            return [self.output_layer] if self.logits_direct else []
        return self.layer(name).producers


def _is_attention(module: nn.Module) -> bool:
    return (isinstance(getattr(module, "qkv", None), nn.Linear)
            and isinstance(getattr(module, "proj", None), nn.Linear)
            and isinstance(getattr(module, "num_heads", None), int))


def _check_supported(model: nn.Module, ignore: set[str]) -> None:
    for name, module in model.named_modules():
        if any(name == i or name.startswith(i + ".") for i in ignore):
            continue
        own = list(module.parameters(recurse=False))
        if not own or name == "":
            continue
        if isinstance(module, nn.Conv2d) and module.groups not in (1, module.in_channels):
            raise UnsupportedModuleError(
                f"module {name!r} is a grouped Conv2d (groups={module.groups}); supported kinds: "
                f"{SUPPORTED_HELP}. Pass ignore=[{name!r}] (`causalnet build --ignore {name}`) to leave it out")
        if not isinstance(module, _SUPPORTED) and not _is_attention(module):
            # parameters held directly by containers (cls_token, pos_embed, LayerScale) are fine
            if all(p.ndim <= 3 and p.shape[0] == 1 or p.ndim == 1 for p in own):
                continue
            raise UnsupportedModuleError(
                f"module {name!r} ({type(module).__name__}) holds parameters causalnet cannot map to "
                f"units; supported kinds: {SUPPORTED_HELP}. Pass ignore=[{name!r}] (`causalnet build --ignore {name}`) to leave it out")


def _execution_order(model: nn.Module, example: torch.Tensor) -> tuple[dict[str, int], torch.Tensor]:
    order: dict[str, int] = {}
    handles = []
    for name, module in model.named_modules():
        def hook(mod, args, name=name):
            order.setdefault(name, len(order))
        handles.append(module.register_forward_pre_hook(hook))
    try:
        with torch.no_grad():
            out = model(example)
    finally:
        for h in handles:
            h.remove()
    return order, out


def _output_layer(model: nn.Module, order: dict[str, int], out: torch.Tensor) -> tuple[str, bool]:
    """The layer that writes the logits, and whether its outputs are the logits themselves;
    without a Linear/Conv2d as wide as the output (logits picked or mixed by a wrapper), the
    last Linear/Conv2d run, whose effects on the classes are then measured at the output."""
    names = dict(model.named_modules())
    layers = [n for n in order if isinstance(names[n], nn.Linear | nn.Conv2d)]
    candidates = [n for n in layers
                  if (names[n].out_features if isinstance(names[n], nn.Linear)
                      else names[n].out_channels) == out.shape[-1]]
    if candidates:
        return max(candidates, key=order.__getitem__), True
    if not layers:
        raise UnsupportedModuleError("the model runs no Linear or Conv2d layer; supported kinds: "
                                     f"{SUPPORTED_HELP}")
    return max(layers, key=order.__getitem__), False


def discover_units(model: nn.Module, example: torch.Tensor, *, ignore: list[str] | tuple = (),
                   output_layer: str | None = None) -> UnitMap:
    """Find every unit layer of ``model`` (run once on ``example``, a batch of 1 input).

    Raises :class:`UnsupportedModuleError` naming any module that holds parameters but cannot
    be mapped to units (never skipped silently). Families that are not units in METHOD.md's
    vocabulary (the hidden dimension of a transformer's residual stream, a head's q/k/v
    channels) are listed in ``UnitMap.skipped`` with the reason.
    """
    import torch_pruning as tp

    ignore_set = set(ignore)
    _check_supported(model, ignore_set)
    was_training = model.training
    model.eval()
    try:
        with split_heads(model):
            order, out = _execution_order(model, example)
        if out.ndim != 2:
            raise CausalnetInputError(f"the model returns shape {tuple(out.shape)}; causalnet needs "
                                      "classification logits of shape (batch, classes)")
        names = dict(model.named_modules())
        module_names = {m: n for n, m in names.items()}
        out_name, direct = (output_layer, True) if output_layer else _output_layer(model, order, out)
        # Torch-Pruning traces through autograd: frozen parameters (requires_grad=False) would
        # be invisible to it, so they are unfrozen for the trace and frozen again after
        frozen = [p for p in model.parameters() if not p.requires_grad]
        try:
            for p in frozen:
                p.requires_grad_(True)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                dg = tp.DependencyGraph().build_dependency(model, example_inputs=example)
        finally:
            for p in frozen:
                p.requires_grad_(False)
        attn = {n: m for n, m in names.items() if _is_attention(m) and n not in ignore_set}
        fused = {n: m for n, m in names.items()
                 if isinstance(m, nn.MultiheadAttention) and n not in ignore_set}
        qkv_names = {f"{n}.qkv" for n in attn} | {f"{n}.out_proj" for n in fused}

        layers: list[UnitLayer] = []
        skipped: list[dict] = []
        covered: set[str] = set()
        roots = sorted((n for n, m in names.items()
                        if isinstance(m, nn.Conv2d | nn.Linear) and n in order), key=order.__getitem__)
        for root in roots:
            module = names[root]
            if root == out_name or root in covered or root in qkv_names:
                continue
            if any(root == i or root.startswith(i + ".") for i in ignore_set):
                continue
            if isinstance(module, nn.Conv2d) and module.groups > 1:
                continue  # depthwise: coupled to the layer that feeds it, found from there
            n_out = module.out_channels if isinstance(module, nn.Conv2d) else module.out_features
            fn = tp.prune_conv_out_channels if isinstance(module, nn.Conv2d) else tp.prune_linear_out_channels
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                group = dg.get_pruning_group(module, fn, idxs=list(range(n_out)))
            members, producers, readers = [], {}, []
            has_norm_coupling = False
            for item in group.items:
                target = item.dep.target.module
                mname = module_names.get(target)
                if mname is None:
                    continue
                members.append(mname)
                handler = item.dep.handler.__name__
                if isinstance(target, nn.LayerNorm):
                    has_norm_coupling = True
                if not isinstance(target, nn.Conv2d | nn.Linear):
                    continue
                if "out_channels" in handler:
                    idx = [0] * n_out
                    for i, r in zip(item.idxs, item.root_idxs, strict=True):
                        idx[int(r)] = int(i)
                    producers[mname] = idx
                elif "in_channels" in handler:
                    per_unit: list[list[int]] = [[] for _ in range(n_out)]
                    for i, r in zip(item.idxs, item.root_idxs, strict=True):
                        per_unit[int(r)].append(int(i))
                    in_size = target.in_channels if isinstance(target, nn.Conv2d) else target.in_features
                    readers.append(Reader(mname, target, 1 if isinstance(target, nn.Conv2d) else -1,
                                          [torch.tensor(sorted(set(p)), dtype=torch.long) for p in per_unit],
                                          in_size))
            covered.update(producers)
            if has_norm_coupling:
                skipped.append({"root": root, "size": n_out, "members": len(members),
                                "reason": "coupled to a LayerNorm: the hidden dimension of a residual "
                                          "stream, not a unit kind (METHOD.md section 1)"})
                continue
            if not readers:
                skipped.append({"root": root, "size": n_out, "reason": "no Conv2d/Linear reads it"})
                continue
            readers.sort(key=lambda r: order[r.name])
            prods = sorted(producers, key=order.__getitem__)
            kind = CONV if isinstance(module, nn.Conv2d) else (MLP if attn or fused else LINEAR)
            layers.append(UnitLayer(prods[0], kind, n_out, prods, producers, readers,
                                    order=order[prods[0]], members=members))
        for name, module in attn.items():
            heads, width = module.num_heads, module.proj.in_features
            head_dim = width // heads
            index = [torch.arange(h * head_dim, (h + 1) * head_dim) for h in range(heads)]
            layers.append(UnitLayer(name, HEAD, heads, [f"{name}.qkv"], {},
                                    [Reader(f"{name}.proj", module.proj, -1, index, width)],
                                    order=order[f"{name}.qkv"], members=[f"{name}.qkv", f"{name}.proj"]))
            skipped.append({"root": f"{name}.qkv", "size": module.qkv.out_features,
                            "reason": "q/k/v channels are grouped into attention heads"})
        for name, module in fused.items():
            heads, width = module.num_heads, module.embed_dim
            index = [torch.arange(h * (width // heads), (h + 1) * (width // heads)) for h in range(heads)]
            layers.append(UnitLayer(name, HEAD, heads, [name], {},
                                    [Reader(f"{name}.out_proj", module.out_proj, -1, index, width)],
                                    order=order[name], members=[name]))
        layers.sort(key=lambda layer: layer.order)
        for i, layer in enumerate(layers):
            layer.order = i
        n_outputs = int(out.shape[-1])
    finally:
        model.train(was_training)
    if not layers:
        raise UnsupportedModuleError(f"found no unit layers in {type(model).__name__}; supported kinds: "
                                     f"{SUPPORTED_HELP}")
    return UnitMap(layers, out_name, n_outputs, skipped, logits_direct=direct)
