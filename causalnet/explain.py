"""Causal visual explanations (paper 2): where in the input a class graph's causal edges act.

For every kept edge ``parent -> child`` of class ``c``'s graph between two convolutional unit
layers, the parent's feature map (the input of the conv that connects the two layers) is
passed through that conv's kernel slice ``weight[child, parent]``: the part of the child's
activation the parent causes, as a map. Each such map is turned into a spatial distribution
(softmax over positions), upsampled bilinearly to the input size and renormalised, and the
maps of all edges are averaged. The result is one non-negative map per image that sums to 1:
where the causal path of class ``c`` looks.

Fallbacks, so every class graph yields a map (stated by :func:`saliency_source`):
1. no conv -> conv edge in the class graph: the conv units the class graph keeps, each map
   taken where the unit is read (its first reader's input) and weighted by the unit's
   strongest edge effect for ``c``;
2. no conv unit in the class graph at all (e.g. a small build that kept only dense units):
   every conv unit weighted by how much it supports ``c`` globally, ``max(0, -class_effects[c])``
   (|class effect| when no unit supports it).

Feature maps come from forward hooks; the model is run once in eval mode and left unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .errors import CausalnetInputError
from .graph import CausalGraph

CONV_KIND = "conv_channel"
EDGES, UNITS, CLASS_EFFECTS = "edges", "units", "class_effects"


@dataclass(frozen=True)
class _EdgeTerm:
    conv: str          # module name of the conv that connects parent and child
    parent: int        # input channel of ``conv`` that carries the parent unit
    child: int         # output channel of ``conv`` that writes the child unit


@dataclass(frozen=True)
class _UnitTerm:
    module: str        # module whose input (reader) or output (producer) holds the unit's map
    where: str         # "input" or "output"
    channel: int
    size: int          # channels of the unit's layer (to un-flatten a Linear reader's input)
    weight: float


def _layers(graph: CausalGraph) -> dict[str, dict]:
    return {layer["name"]: layer for layer in graph.nx.graph.get("layers") or []}


def _class_edges(graph: CausalGraph, cls: int) -> list[tuple[str, str, float]]:
    """Class ``cls``'s edges between two conv units, with the edge effect, in graph order."""
    g = graph.nx
    out = []
    for u, v, a in g.edges(data=True):
        stats = a.get("classes", {}).get(cls)
        if stats is None:
            continue
        if g.nodes[u].get("kind") == CONV_KIND and g.nodes[v].get("kind") == CONV_KIND:
            out.append((u, v, abs(stats.get("effect") or 0.0)))
    order = {n: i for i, n in enumerate(graph.in_order())}
    return sorted(out, key=lambda e: (order[e[0]], order[e[1]]))


def _edge_terms(graph: CausalGraph, modules: dict[str, nn.Module], cls: int) -> list[_EdgeTerm]:
    """The (conv, parent channel, child channel) of every usable conv -> conv class edge.

    The connecting conv reads the parent's layer and writes the child's (a reader of one that
    is a producer of the other). Unit ``i`` is taken as channel ``i`` there, which holds when
    the conv's channel counts equal the layers' sizes (no concatenation); edges where that or
    a grouped conv's connectivity does not hold are left out.
    """
    layers = _layers(graph)
    g = graph.nx
    terms = []
    for u, v, _ in _class_edges(graph, cls):
        pu, pv = g.nodes[u], g.nodes[v]
        lu, lv = layers.get(pu["layer"], {}), layers.get(pv["layer"], {})
        producers = set(lv.get("producers") or [])
        for name in lu.get("readers") or []:
            conv = modules.get(name)
            if name not in producers or not isinstance(conv, nn.Conv2d):
                continue
            p, q = int(pu["index"]), int(pv["index"])
            if conv.in_channels != lu.get("size") or conv.out_channels != lv.get("size"):
                continue
            in_per, out_per = conv.in_channels // conv.groups, conv.out_channels // conv.groups
            if p // in_per != q // out_per:  # grouped conv: the parent does not reach the child
                continue
            terms.append(_EdgeTerm(name, p, q))
            break
    return terms


def _map_site(graph: CausalGraph, modules: dict[str, nn.Module], node: str) -> tuple[str, str] | None:
    """Where unit ``node``'s map is read: (module, "input"|"output"), or None.

    The first Conv2d reader's input; else the first Linear reader's input when it is the
    flattened layer (reshaped back to maps); else the first Conv2d producer's output.
    """
    layer = _layers(graph).get(graph.node(node)["layer"], {})
    size = layer.get("size") or 0
    readers = layer.get("readers") or []
    for name in readers:
        if isinstance(modules.get(name), nn.Conv2d) and modules[name].in_channels == size:
            return name, "input"
    for name in readers:
        m = modules.get(name)
        if isinstance(m, nn.Linear) and size and m.in_features % size == 0:
            side = math.isqrt(m.in_features // size)
            if side * side * size == m.in_features and side > 1:
                return name, "input"
    for name in layer.get("producers") or []:
        if isinstance(modules.get(name), nn.Conv2d) and modules[name].out_channels == size:
            return name, "output"
    return None


def _unit_terms(graph: CausalGraph, modules: dict[str, nn.Module], cls: int
                ) -> tuple[list[_UnitTerm], str]:
    """Weighted conv units for the fallbacks (see the module docstring) and which one it is."""
    g = graph.nx
    weights: dict[str, float] = {}
    for n in graph.causes_of(cls):
        if g.nodes[n].get("kind") == CONV_KIND:
            effects = [abs(s.get("effect") or 0.0) for _, _, a in g.out_edges(n, data=True)
                       for c, s in a.get("classes", {}).items() if c == cls]
            weights[n] = max(effects, default=0.0) or 1.0
    source = UNITS
    if not weights:
        source = CLASS_EFFECTS
        effects = {n: (g.nodes[n].get("class_effects") or {}).get(cls) for n in graph.units()
                   if g.nodes[n].get("kind") == CONV_KIND}
        effects = {n: e for n, e in effects.items() if e is not None}
        weights = {n: max(0.0, -e) for n, e in effects.items()}
        if not any(weights.values()):
            weights = {n: abs(e) for n, e in effects.items()}
        weights = {n: w for n, w in weights.items() if w > 0}
    layers = _layers(graph)
    terms = []
    for n, w in weights.items():
        site = _map_site(graph, modules, n)
        if site is not None:
            size = int(layers.get(g.nodes[n]["layer"], {}).get("size") or 0)
            terms.append(_UnitTerm(site[0], site[1], int(g.nodes[n]["index"]), size, float(w)))
    return terms, source


def saliency_source(model: nn.Module, graph: CausalGraph, cls: int) -> str:
    """Which maps :func:`causal_saliency` will use for ``cls``: "edges" (conv -> conv class
    edges), "units" (the class graph's conv units) or "class_effects" (all conv units weighted
    by their class effect). Raises CausalnetInputError when none is possible."""
    cls = graph.check_class(cls)
    modules = dict(model.named_modules())
    if _edge_terms(graph, modules, cls):
        return EDGES
    terms, source = _unit_terms(graph, modules, cls)
    if not terms:
        raise CausalnetInputError(
            f"no convolutional unit of this graph can explain class {cls}: causal saliency "
            "needs conv channels (and a model whose modules match the graph's layers)")
    return source


def _to_distribution(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(N, h, w) scores -> (N, H, W) distributions: spatial softmax, bilinear upsampling to
    ``size``, renormalised to sum 1 (upsampling changes the sum)."""
    n, h, w = maps.shape
    soft = torch.softmax(maps.reshape(n, h * w).float(), dim=1).reshape(n, 1, h, w)
    up = F.interpolate(soft, size=size, mode="bilinear", align_corners=False)[:, 0].clamp_min(0)
    return up / up.sum(dim=(1, 2), keepdim=True).clamp_min(1e-12)


def _capture(model: nn.Module, modules: dict[str, nn.Module], x: torch.Tensor,
             sites: set[tuple[str, str]]) -> dict[tuple[str, str], torch.Tensor]:
    """Run ``model`` once (eval mode, no grad) and return the requested inputs/outputs."""
    got: dict[tuple[str, str], torch.Tensor] = {}
    handles = []
    for name, where in sites:
        if where == "input":
            def pre(mod, args, key=(name, where)):
                got[key] = args[0].detach()
            handles.append(modules[name].register_forward_pre_hook(pre))
        else:
            def post(mod, args, out, key=(name, where)):
                got[key] = out.detach()
            handles.append(modules[name].register_forward_hook(post))
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(x)
    finally:
        model.train(was)
        for h in handles:
            h.remove()
    return got


def _unit_map(t: torch.Tensor, channel: int, size: int) -> torch.Tensor:
    """Channel ``channel``'s (N, h, w) map from a captured tensor (a flattened Linear input
    is reshaped back to ``size`` channels of square maps)."""
    if t.ndim == 2:
        side = math.isqrt(t.shape[1] // size)
        t = t.reshape(t.shape[0], size, side, side)
    return t[:, channel]


def causal_saliency(model: nn.Module, graph: CausalGraph, x: torch.Tensor, cls: int, *,
                    check_model: bool = True) -> torch.Tensor:
    """Causal saliency maps of class ``cls`` for the images ``x`` (N, C, H, W): (N, H, W),
    non-negative, each summing to 1 (see the module docstring for the method).

    ``check_model`` first checks that ``graph`` was built from ``model`` (a graph applied to
    other weights would explain the wrong channels). Raises CausalnetInputError for an unknown
    class or a graph without conv units.
    """
    if x.ndim != 4:
        raise CausalnetInputError(f"causal_saliency needs images (N, C, H, W), got {tuple(x.shape)}")
    if check_model:
        graph.check_model(model)
    cls = graph.check_class(cls)
    modules = dict(model.named_modules())
    param = next(model.parameters(), None)
    if param is not None:
        x = x.to(param.device)
    size = (int(x.shape[-2]), int(x.shape[-1]))

    edges = _edge_terms(graph, modules, cls)
    if edges:
        feats = _capture(model, modules, x, {(t.conv, "input") for t in edges})
        total = torch.zeros(len(x), *size, device=x.device)
        for t in edges:
            conv: nn.Conv2d = modules[t.conv]  # type: ignore[assignment]
            in_per = conv.in_channels // conv.groups
            kernel = conv.weight.detach()[t.child:t.child + 1, t.parent % in_per:t.parent % in_per + 1]
            parent = feats[(t.conv, "input")][:, t.parent:t.parent + 1].to(kernel.dtype)
            child = F.conv2d(parent, kernel, stride=conv.stride, padding=conv.padding,
                             dilation=conv.dilation)
            total += _to_distribution(child[:, 0], size)
        return total / len(edges)

    terms, _ = _unit_terms(graph, modules, cls)
    if not terms:
        saliency_source(model, graph, cls)  # raises the explanatory error
    feats = _capture(model, modules, x, {(t.module, t.where) for t in terms})
    total = torch.zeros(len(x), *size, device=x.device)
    weight_sum = 0.0
    for t in terms:
        unit = _unit_map(feats[(t.module, t.where)], t.channel, t.size)
        total += t.weight * _to_distribution(unit, size)
        weight_sum += t.weight
    return total / weight_sum


__all__ = ["causal_saliency", "saliency_source", "EDGES", "UNITS", "CLASS_EFFECTS"]
