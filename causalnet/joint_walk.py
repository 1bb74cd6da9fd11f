"""The joint class walk: class graphs that hold up on wide, redundant layers.

Paper 2's walk (``walk="paper2"``, :meth:`causalnet.builder.GraphBuilder._class_walk`) keeps a
unit only if cutting it *alone* significantly lowers the class logit; in a wide layer whose
units back each other up no single unit passes, and the walk stops at the last hidden layer
(the VGG-11-BN and MobileNetV2 zoo graphs keep 0-11 units of 1,500). The joint walk asks the
question a class graph is read as answering: *which units does the class need together?*

For class ``c`` and its N correctly classified inputs, the layers are visited in the same
top-down order as paper 2's walk (from the logits through the layers that feed what is kept).
At each layer ``L``, with every layer already visited restricted to its kept units (the others
switched off: zero or mean, as the build's intervention):

1. **rank** the units of ``L`` by their first-order effect on the class margin (logit of ``c``
   minus the largest other logit) when switched off, averaged over the N inputs: one forward
   and one backward (:func:`causalnet.first_order.first_order_effects`);
2. **bisect** on ``k``: the smallest ``k`` such that keeping only the top ``k`` units of ``L``
   (switching off the rest of ``L`` *together*, on top of the restriction above) still
   *holds* a fraction ``target_L`` of the N inputs: classified as ``c`` with at least half
   (``MARGIN_SHARE``) of its clean margin. Each probe is one joint forward. (Plain accuracy is
   not enough: with every unit of a layer off the logits fall back to the biases, whose argmax
   is some class, and that class would keep an empty graph.)
   The allowed loss ``1 - keep`` is spread evenly over the unit layers:
   ``target_L = 1 - (1 - keep) * (i + 1) / n_layers`` for the ``i``-th layer visited, so the
   graph as a whole keeps at least ``keep`` of the build inputs (by construction, on them).

The kept units are the class graph. In a plain chain (LeNet, VGG) every layer needs at least one
unit for the class to survive, so the walk reaches the first unit layer; where a residual
connection bypasses a layer (a block's inner channels) the class may survive with none of it,
the layer keeps nothing and the walk does not go below it through that layer. Edges: each kept unit links to the (at most three) kept units of the layer above that it
feeds most strongly (summed |weight| between them at the readers that write them; where no
reader writes the layer above directly, e.g. across a transformer's residual stream, its
three most important kept units); to the logit for the top layer. An edge carries the unit's
first-order statistics (mean margin drop, relative to the clean margin, z over the N inputs
and its one-sided normal p): the evidence that ranked it; the layer's log records the joint
test that kept it (accuracy with the top ``k``, and with ``k - 1``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import torch
from scipy.stats import norm
from torch import nn

from .devices import model_device
from .evaluate import class_margin
from .first_order import first_order_effects
from .interventions import Ablation
from .masking import switched_off
from .memory import make_engine
from .nodes import LOGIT_LAYER, logit_id
from .units import UnitLayer, UnitMap

EDGES_PER_UNIT = 3
MARGIN_SHARE = 0.5   # an input is held when its margin keeps at least this share of the clean one


def _connection(units: UnitMap, layer: UnitLayer, readers: list[str], upper: str,
                kept_upper: list[int]) -> np.ndarray | None:
    """(layer.size, len(kept_upper)) summed |weight| from each unit of ``layer`` to each kept
    unit of ``upper`` at the readers that write ``upper``; None where the weights do not map
    one input channel to one output channel (grouped convolutions, no direct reader)."""
    if not readers or upper == LOGIT_LAYER:
        return None
    total = np.zeros((layer.size, len(kept_upper)))
    up = units.layer(upper)
    for name in readers:
        rd = layer.reader(name)
        w = getattr(rd.module, "weight", None)
        idx = up.producer_index.get(name)
        if w is None or idx is None or w.ndim < 2 or w.shape[1] != rd.in_size:
            return None
        w = w.detach().abs()
        w = w.reshape(w.shape[0], w.shape[1], -1).sum(2) if w.ndim > 2 else w
        out = torch.tensor([idx[e] for e in kept_upper], dtype=torch.long)
        for j in range(layer.size):
            total[j] += w[out][:, rd.index[j]].sum(1).double().cpu().numpy()
    return total


class JointWalk:
    """One class's joint walk (module docstring); :meth:`run` returns the walk entry the
    builder stores (same shape as paper 2's walk: ``n_samples``, ``edges``, ``layers_tested``,
    ``observed_mean``).

    ``per``: the most images one forward or intervention engine holds (the builder's
    ``max_memory`` turned into images); larger sets are worked through in slices."""

    def __init__(self, net: nn.Module, units: UnitMap, x: torch.Tensor, c: int, *,
                 ablation: Ablation, keep: float, reference: torch.Tensor | None,
                 means: Mapping[str, torch.Tensor] | None,
                 parents: Callable[[str, set[str]], list[tuple[UnitLayer, list[str]]]],
                 per: int = 1 << 30):
        self.net, self.units, self.x, self.c = net, units, x.to(model_device(net)), c
        self.per = max(1, int(per))
        self.ablation, self.keep, self.reference = ablation, keep, reference
        self.values = ablation.mode
        self.means = means
        self.parents = parents
        self.off: dict[str, list[int]] = {}
        self.importance: dict[str, np.ndarray] = {}
        self._held: float | None = None   # fraction held under ``off`` (the last layer's result)

    def _accuracy(self, off: Mapping[str, list[int]]) -> float:
        """Fraction of the inputs held (class ``c`` with ``MARGIN_SHARE`` of the clean margin)."""
        with switched_off(self.units, off, values=self.values, means=self.means):
            margin = class_margin(self._logits(), self.c)
        return float((margin >= MARGIN_SHARE * self._clean_margin).double().mean())

    def _logits(self) -> torch.Tensor:
        """The model's logits on the class inputs, ``per`` images at a time."""
        with torch.inference_mode():
            return torch.cat([self.net(self.x[i:i + self.per]).float()
                              for i in range(0, len(self.x), self.per)])

    def _effects(self, layer: UnitLayer) -> torch.Tensor:
        """(size, N) first-order change of the class margin when each unit is switched off,
        with the layers above restricted."""
        with switched_off(self.units, self.off, values=self.values, means=self.means):
            engine = make_engine(self.net, self.units, self.x, per=self.per, ablation=self.ablation,
                                 reference=self.reference)
            return first_order_effects(engine, layer, lambda lg, rows=None: class_margin(lg, self.c),
                                       key="margin")

    def _bisect(self, layer: UnitLayer, order: np.ndarray, target: float) -> tuple[int, dict[int, float]]:
        """Smallest k (assuming accuracy grows with k) whose top-k keeps ``target``."""
        seen: dict[int, float] = {}

        def acc(k: int) -> float:
            if k not in seen:
                seen[k] = self._accuracy({**self.off, layer.name: [int(j) for j in order[k:]]})
            return seen[k]

        lo, hi = 0, layer.size            # keeping all of L: the restriction so far
        seen[hi] = self._held if self._held is not None else self._accuracy(self.off)
        if seen[hi] < target:
            return hi, seen
        while lo < hi:
            mid = (lo + hi) // 2
            if acc(mid) >= target:
                hi = mid
            else:
                lo = mid + 1
        return hi, seen

    def run(self) -> dict:
        c = self.c
        clean = self._logits()
        self._clean_margin = class_margin(clean, c)   # (N,), positive: the inputs are classified c
        clean_margin = float(self._clean_margin.mean())
        n_layers = max(1, len(self.units.layers))
        visited: set[str] = {LOGIT_LAYER}
        frontier: list[tuple[str, list[int]]] = [(LOGIT_LAYER, [c])]
        edges: list[list] = []
        log: list[dict] = []
        while frontier:
            upper, effects = frontier.pop(0)
            for layer, readers in self.parents(upper, visited):
                visited.add(layer.name)
                est = self._effects(layer).double().numpy()         # change of margin, (size, N)
                drop = -est.mean(1)
                sd = est.std(1, ddof=1) if est.shape[1] > 1 else np.zeros(layer.size)
                z = drop / (sd / np.sqrt(est.shape[1]) + 1e-12)
                order = np.argsort(-drop, kind="stable")
                target = 1.0 - (1.0 - self.keep) * (len(log) + 1) / n_layers
                k, seen = self._bisect(layer, order, target)
                self._held = seen[k]
                kept = sorted(int(j) for j in order[:k])
                self.off[layer.name] = [int(j) for j in order[k:]]
                self.importance[layer.name] = drop
                log.append({"layer": layer.name, "effects_of": upper, "mode": "joint",
                            "candidates": layer.size, "exact_tests": len(seen), "kept": k,
                            "target_held": round(target, 6), "held_kept": seen.get(k),
                            "held_one_fewer": seen.get(k - 1) if k > 0 else None})
                edges += self._edges(layer, readers, upper, effects, kept, drop, z, clean_margin)
                if kept:
                    frontier.append((layer.name, kept))
        return {"n_samples": len(self.x), "edges": edges, "layers_tested": log,
                "observed_mean": float(clean[:, c].mean()), "walk": "joint",
                "clean_margin": clean_margin}

    def _edges(self, layer, readers, upper, effects, kept, drop, z, clean_margin) -> list[list]:
        units, c = self.units, self.c
        if upper == LOGIT_LAYER:
            targets = {j: [logit_id(c)] for j in kept}
        else:
            up = units.layer(upper)
            strength = _connection(units, layer, readers, upper, effects)
            if strength is None:  # no one-to-one weights: the most important units above
                imp = self.importance[upper][effects]
                best = [effects[i] for i in np.argsort(-imp, kind="stable")[:EDGES_PER_UNIT]]
                targets = {j: [up.node_id(e) for e in best] for j in kept}
            else:
                targets = {j: [up.node_id(effects[i]) for i in
                               np.argsort(-strength[j], kind="stable")[:EDGES_PER_UNIT]] for j in kept}
        rel = drop / (abs(clean_margin) + 1e-12)
        p = norm.sf(z)
        return [[layer.node_id(j), v, float(drop[j]), float(rel[j]), float(z[j]), float(p[j]), "joint"]
                for j in kept for v in targets[j]]


__all__ = ["JointWalk", "MARGIN_SHARE"]
