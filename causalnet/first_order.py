"""First-order screening ("attribution patching"): the change of a target under each unit's
intervention, estimated as gradient x (v - x) at the unit's reader inputs from one forward and
one backward, instead of one forward per unit. Builds and the planner use it to choose which
units to test exactly with the :class:`~causalnet.interventions.InterventionEngine`; it is an
estimate, never a kept statistic.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .attention import split_heads
from .interventions import InterventionEngine
from .units import Reader, UnitLayer


class _GradientCache:
    """One forward and one backward of ``target`` on the engine's batch, keeping, for every
    reader of every unit layer, its input, the gradient through that reader alone (inputs are
    aliased per reader, so a tensor read twice gets one gradient per reader) and the gradient
    at its output."""

    def __init__(self, engine: InterventionEngine, target):
        model = engine.model
        self.inputs: dict[str, torch.Tensor] = {}
        self.outputs: dict[str, torch.Tensor] = {}
        readers = {r.name: r for layer in engine.unit_map for r in layer.readers}
        handles = []

        def pre(name):
            def hook(mod, args):
                alias = args[0].clone()
                alias.retain_grad()
                self.inputs[name] = alias
                return (alias, *args[1:])
            return hook

        def post(name):
            def hook(mod, args, out):
                out.retain_grad()
                self.outputs[name] = out
            return hook

        was = model.training
        model.eval()
        try:
            for name, rd in readers.items():
                handles.append(rd.module.register_forward_pre_hook(pre(name)))
                handles.append(rd.module.register_forward_hook(post(name)))
            with torch.enable_grad(), split_heads(model):
                x = engine.x.clone().requires_grad_(True)
                target(model(x).float()).sum().backward()
        finally:
            for h in handles:
                h.remove()
            model.train(was)
            model.zero_grad(set_to_none=True)

    def input_grad(self, reader: Reader, out_index: torch.Tensor | None) -> torch.Tensor | None:
        """d target / d reader input, through all the reader's outputs or only ``out_index``."""
        x = self.inputs[reader.name]
        if out_index is None:
            return x.grad
        g_out = self.outputs[reader.name].grad
        if g_out is None:
            return None
        mask = torch.zeros(g_out.shape[1], dtype=g_out.dtype, device=g_out.device)
        mask[out_index.to(g_out.device)] = 1
        g_out = g_out * mask.view([1, -1] + [1] * (g_out.ndim - 2))
        with torch.enable_grad():
            leaf = x.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(reader.module(leaf), leaf, grad_outputs=g_out)
        return grad


def first_order_effects(engine: InterventionEngine, layer: UnitLayer, target, *,
                        readers: Sequence[str] | None = None,
                        splice: dict[str, torch.Tensor] | None = None,
                        key: str = "target") -> torch.Tensor:
    """First-order estimates ("attribution patching") of the change of ``target(logits)`` (N,)
    under each unit's intervention: (units, N) ~ grad . (v - x) at the unit's reader inputs.

    One forward and one backward per engine and ``key`` (cached) serve every layer, instead of
    one forward per unit; used to screen candidates before exact tests. With ``splice`` the
    gradient reaches a reader's input only through its spliced outputs (the path intervention).
    """
    if hasattr(engine, "first_order"):   # an engine split over images (causalnet.memory)
        return engine.first_order(layer, target, readers=readers, splice=splice, key=key)
    names = list(readers) if readers is not None else [rd.name for rd in layer.readers]
    if splice:
        names = [n for n in names if n in splice] or list(splice)
    cache = engine.cached(f"first_order:{key}", lambda: _GradientCache(engine, target))
    est = torch.zeros(layer.size, engine.n, device=engine.device)
    for name in names:
        rd = layer.reader(name)
        g = cache.input_grad(rd, (splice or {}).get(name))
        if g is None:
            continue
        t = cache.inputs[name].detach()
        contrib = g * (engine.replacement(rd, t) - t)          # (N, ...) per input element
        dim = rd.axis(t.ndim)
        per_channel = contrib.movedim(dim, -1).reshape(engine.n, -1, rd.in_size).sum(1)  # (N, C)
        est += (per_channel.float() @ rd.mask(range(layer.size)).to(engine.device).T).T
    return est.cpu()
