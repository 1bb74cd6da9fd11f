"""Is a class graph faithful? Sufficiency, necessity, size and controls (METHOD.md, 6b).

A class graph claims that class ``c``'s decision runs through its units. This module tests the
claim on *held-out* images (the data bundle's ``eval`` split, never ``fit``, where graphs are
built) by switching units off with the hub primitive :func:`causalnet.masking.switched_off`
(mean ablation by default, the means taken over a class-balanced reference draw from ``fit``,
as the builder's calibration set):

- **sufficiency**: keep only class ``c``'s graph units and mean-ablate every other unit of every
  layer the graph covers (a unit layer is a coupled group, e.g. a whole residual stream, so a
  unit is switched off at all its readers); class-``c`` accuracy and the fraction of the clean
  class-``c`` logit margin (``logit_c - max_other``) that remains;
- **necessity**: mean-ablate only the graph's units; the drop of class-``c`` accuracy and the
  mean drop over the other classes (a class graph should hurt its own class most);
- **size**: graph units / units of the covered layers, per layer and in all;
- **controls at equal size per layer**: the same measurements for unit sets that take, in each
  covered layer, as many units as the graph does, ranked by another score: ``random`` (seeded),
  ``weight_l1`` (L1 norm of the readers' weights on the unit) and any ranking passed in
  (``rankings``: e.g. Captum's LayerConductance, computed by the benchmark);
- **curves**: sufficiency and necessity when the top fraction ``f`` of every covered layer is
  kept / ablated, for the causal ranking (graph units first, by their kept statistic, then the
  other units by their stored class effect) and for every control.

:func:`class_jaccard` gives the node-set stability of two graphs built from disjoint draws.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from .attention import split_heads
from .data import DataBundle, class_balanced_indices, stack_samples
from .errors import CausalnetInputError
from .evaluate import class_margin
from .graph import CausalGraph
from .masking import reader_means, switched_off
from .progress import progress
from .units import UnitLayer, UnitMap, discover_units

DEFAULT_FRACTIONS = (0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75)
BUILTIN_CONTROLS = ("random", "weight_l1")
GRAPH = "graph"
CAUSAL = "causal"

# layer -> class -> per-unit scores (higher: supports the class more)
Ranking = Mapping[str, Mapping[int, np.ndarray]]

__all__ = ["graph_faithfulness", "FaithfulnessReport", "class_units", "class_jaccard",
           "weight_l1_scores", "DEFAULT_FRACTIONS", "BUILTIN_CONTROLS"]


def weight_l1_scores(layer: UnitLayer) -> np.ndarray:
    """Per unit of ``layer``: the L1 norm of every reader's weights on the unit's input
    channels, summed over readers (a data-free magnitude control)."""
    total = np.zeros(layer.size)
    for reader in layer.readers:
        w = reader.module.weight.detach().abs()
        w = w.reshape(w.shape[0], w.shape[1], -1).sum(2) if w.ndim > 2 else w
        total += np.array([float(w[:, idx].sum()) for idx in reader.index])
    return total


def class_units(graph: CausalGraph, c: int) -> dict[str, list[int]]:
    """Class ``c``'s graph as layer name -> sorted unit indices (input-to-output layer order)."""
    out: dict[str, list[int]] = {}
    for n in graph.causes_of(c):
        a = graph.node(n)
        out.setdefault(a["layer"], []).append(int(a["index"]))
    return {k: sorted(v) for k, v in out.items()}


def class_jaccard(a: CausalGraph, b: CausalGraph, c: int) -> float:
    """Node-set Jaccard of class ``c``'s graph in ``a`` and in ``b``; NaN when both are empty
    (two empty graphs agree on nothing, so they do not count as stable)."""
    sa, sb = set(a.causes_of(c)), set(b.causes_of(c))
    return float("nan") if not sa | sb else len(sa & sb) / len(sa | sb)


@dataclass
class FaithfulnessReport:
    """What :func:`graph_faithfulness` measured.

    ``rows``: one per (class, method) at the graph's size (method ``"graph"`` is the class
    graph itself; the others are equal-size controls). ``curve``: one per (class, method,
    fraction). ``images``: the ``eval`` indices of the held-out images, per class;
    ``reference``: the ``fit`` indices of the mean-ablation reference draw.
    """

    rows: list[dict]
    curve: list[dict]
    images: dict[int, list[int]]
    reference: list[int]
    settings: dict = field(default_factory=dict)

    def to_rows(self) -> list[dict]:
        """The per-(class, method) rows (plain dicts, ready for CSV)."""
        return [dict(r) for r in self.rows]

    def summary(self) -> list[dict]:
        """Per method: the mean over classes of every numeric column of :attr:`rows`."""
        out = []
        for m in dict.fromkeys(r["method"] for r in self.rows):
            rs = [r for r in self.rows if r["method"] == m]
            keys = [k for k, v in rs[0].items() if isinstance(v, (int, float)) and k != "class"
                    and not isinstance(v, bool)]
            out.append({"method": m, "classes": len(rs),
                        **{k: float(np.nanmean([r[k] for r in rs])) for k in keys}})
        return out


def _as_bundle(data) -> DataBundle:
    if isinstance(data, DataBundle):
        return data
    raise CausalnetInputError("graph_faithfulness needs a DataBundle (causalnet.load_data(spec)): "
                              "held-out images come from its eval split, the reference means "
                              "from its fit split")


def _top(scores: np.ndarray, k: int) -> list[int]:
    """The ``k`` highest-scoring units (ties: lower index first)."""
    order = np.lexsort((np.arange(len(scores)), -np.asarray(scores, dtype=float)))
    return sorted(int(j) for j in order[:k])


def _causal_scores(graph: CausalGraph, layer: UnitLayer, c: int, members: Sequence[int]) -> np.ndarray:
    """Graph members first (by the strongest z of their class-``c`` edges), then the others by
    minus their stored class effect (0 where the graph stores none)."""
    scores = np.zeros(layer.size)
    for j in range(layer.size):
        node = layer.node_id(j)
        effect = (graph.node(node).get("class_effects") or {}).get(c) if node in graph else None
        scores[j] = -(effect or 0.0)
    scale = np.abs(scores).max() + 1.0
    for j in members:
        z = [d["classes"][c].get("z") or 0.0 for _, _, d in graph.nx.out_edges(layer.node_id(j), data=True)
             if c in d["classes"]]
        scores[j] = 2 * scale + 1e-3 * max(z, default=0.0)   # every member above every non-member
    return scores


class _Runner:
    """Held-out forwards with a set of units switched off (mean or zero)."""

    def __init__(self, net: nn.Module, units: UnitMap, values: str, means, batch_size: int):
        self.net, self.units, self.values, self.means, self.batch_size = net, units, values, means, batch_size

    @torch.inference_mode()
    def logits(self, x: torch.Tensor, off: Mapping[str, Iterable[int]] | None = None) -> torch.Tensor:
        outs = []
        with split_heads(self.net), switched_off(self.units, off or {}, values=self.values,
                                                 means=self.means):
            for i in range(0, len(x), self.batch_size):
                outs.append(self.net(x[i:i + self.batch_size]).float())
        return torch.cat(outs)


def graph_faithfulness(model: nn.Module, graph: CausalGraph, data, classes: Sequence[int] | None = None,
                       *, per_class: int = 50, other_per_class: int | None = 20,
                       reference_per_class: int | None = None, seed: int = 0,
                       controls: Sequence[str] = BUILTIN_CONTROLS,
                       rankings: Mapping[str, Ranking] | None = None,
                       fractions: Sequence[float] = DEFAULT_FRACTIONS, values: str = "mean",
                       batch_size: int = 500, show_progress: bool = False) -> FaithfulnessReport:
    """Measure how faithful ``graph``'s class graphs are to ``model`` on held-out images.

    Args:
        model: the model the graph explains (checked by fingerprint; never modified).
        graph: a :class:`CausalGraph` built from ``model``.
        data: a :class:`DataBundle`; held-out images are drawn from its ``eval`` split,
            ``per_class`` per class (seeded), and the reference of mean ablation from ``fit``.
        classes: the classes to measure (default: the graph's classes).
        per_class: held-out images per class (every class of the data is drawn, since
            necessity also measures the other classes).
        other_per_class: how many of each other class's held-out images measure the
            necessity drop on the other classes (the first of the draw; None: all
            ``per_class``); fewer keep the curves affordable.
        reference_per_class: images per class of the mean-ablation reference (default: the
            graph's ``calibration_per_class``, else 20), drawn from ``fit`` with the graph's seed,
            as the builder's calibration set.
        seed: seed of the held-out draw and of the ``random`` control.
        controls: built-in equal-size controls to run (``random``, ``weight_l1``).
        rankings: extra controls: method -> layer -> class -> per-unit scores (higher = more
            important), e.g. Captum layer attributions; a layer missing from a ranking falls
            back to ``random`` for that method (the row's ``fallback_layers`` counts them).
        fractions: sizes of the curve (fraction of units of each covered layer).
        values: ``mean`` (default) or ``zero`` ablation.
        batch_size: images per forward.
        show_progress: show a progress bar over classes.

    Returns:
        A :class:`FaithfulnessReport` (rows per class and method, curves, the images used).
    """
    bundle = _as_bundle(data)
    graph.check_model(model)
    unknown = [m for m in controls if m not in BUILTIN_CONTROLS]
    if unknown:
        raise CausalnetInputError(f"unknown control(s) {unknown}; built-in controls are "
                                  f"{BUILTIN_CONTROLS} (pass others as rankings=...)")
    if per_class < 1:
        raise CausalnetInputError(f"per_class must be at least 1, got {per_class}")
    classes = graph.classes() if classes is None else sorted(set(int(c) for c in classes))
    missing = [c for c in classes if c not in graph.classes()]
    if missing:
        raise CausalnetInputError(f"class(es) {missing} have no class graph in this graph "
                                  f"(it has {graph.classes()}); rebuild it with those classes")
    rankings = dict(rankings or {})
    meta = graph.nx.graph
    ref_per_class = reference_per_class or int((meta.get("data") or {}).get("calibration_per_class") or 20)
    ref_seed = int((meta.get("settings") or {}).get("seed") or 0)

    net = copy.deepcopy(model).eval()
    x0 = bundle.fit[0][0].unsqueeze(0)
    units = discover_units(net, x0)
    layers = {layer.name: layer for layer in units}
    foreign = sorted({graph.node(n)["layer"] for n in graph.units()} - set(layers))
    if foreign:
        raise CausalnetInputError(f"the graph has layer(s) {foreign} that this model lacks; "
                                  "rebuild the graph from this model with `causalnet build`")
    ref_idx = class_balanced_indices(bundle.fit.targets, ref_per_class, seed=ref_seed, strict=False)
    x_ref, _ = stack_samples(bundle.fit, ref_idx)
    means = reader_means(net, units, x_ref, batch_size=batch_size) if values == "mean" else None
    run = _Runner(net, units, values, means, batch_size)

    eval_targets = torch.as_tensor(bundle.eval.targets)
    all_classes = sorted(int(c) for c in torch.unique(eval_targets))
    held_idx = class_balanced_indices(eval_targets, per_class, seed=seed, strict=False)
    x, y = stack_samples(bundle.eval, held_idx)
    images = {k: [i for i, t in zip(held_idx, y.tolist(), strict=True) if t == k] for k in all_classes}
    clean = run.logits(x)
    is_c = {k: (y == k) for k in all_classes}
    n_other = per_class if other_per_class is None else max(1, int(other_per_class))
    rank_in_class = torch.zeros(len(y), dtype=torch.long)
    for k in all_classes:
        rank_in_class[is_c[k]] = torch.arange(int(is_c[k].sum()))
    clean_acc = {k: float((clean[is_c[k]].argmax(1) == k).float().mean()) for k in all_classes}

    def measure(c: int, keep: Mapping[str, list[int]] | None, off: Mapping[str, list[int]]) -> dict:
        """Sufficiency (``keep``: the kept units of each covered layer) and necessity (``off``)."""
        xc = x[is_c[c]]
        res = {}
        if keep is not None:
            suff_off = {name: sorted(set(range(layers[name].size)) - set(js)) for name, js in keep.items()}
            lg = run.logits(xc, suff_off)
            m0 = float(class_margin(clean[is_c[c]], c).mean())
            res["suff_acc"] = float((lg.argmax(1) == c).float().mean())
            res["suff_margin"] = float(class_margin(lg, c).mean()) / m0 if m0 else float("nan")
        probe = is_c[c] | (rank_in_class < n_other)
        lg = run.logits(x[probe], off)
        yp, clean_p = y[probe], clean[probe]
        acc = {k: float((lg[yp == k].argmax(1) == k).float().mean()) for k in all_classes}
        acc0 = {k: float((clean_p[yp == k].argmax(1) == k).float().mean()) for k in all_classes}
        res["nec_acc"] = acc[c]
        res["nec_drop_own"] = clean_acc[c] - acc[c]
        others = [acc0[k] - acc[k] for k in all_classes if k != c]
        res["nec_drop_other"] = float(np.mean(others)) if others else float("nan")
        return res

    rng = np.random.default_rng(seed)
    rows: list[dict] = []
    curve: list[dict] = []
    n_all = units.n_units
    first_layer = units.layers[0].name
    for c in progress(classes, show=show_progress, desc="faithfulness", unit="class"):
        members = class_units(graph, c)
        covered = [name for name in layers if name in members]
        n_cov = sum(layers[name].size for name in covered)
        n_graph = sum(len(v) for v in members.values())
        scores: dict[str, dict[str, np.ndarray]] = {CAUSAL: {}, "random": {}, "weight_l1": {}}
        fallback: dict[str, int] = {}
        for name in covered:
            layer = layers[name]
            scores[CAUSAL][name] = _causal_scores(graph, layer, c, members[name])
            scores["random"][name] = rng.permutation(layer.size).astype(float)
            scores["weight_l1"][name] = weight_l1_scores(layer)
        methods = [*controls, *rankings]
        for m, ranking in rankings.items():
            scores[m] = {}
            for name in covered:
                s = (ranking.get(name) or {}).get(c)
                if s is None:
                    fallback[m] = fallback.get(m, 0) + 1
                    s = scores["random"][name]
                scores[m][name] = np.asarray(s, dtype=float)
        base = {"class": c, "units": n_graph, "covered_units": n_cov,
                "size": n_graph / n_cov if n_cov else float("nan"), "size_all": n_graph / n_all,
                "layers_covered": len(covered),
                "reaches_first_layer": first_layer in members,
                "per_layer": ";".join(f"{name}:{len(members[name])}/{layers[name].size}" for name in covered),
                "clean_acc": clean_acc[c]}
        for m in (GRAPH, *methods):
            if m == GRAPH:
                chosen = {name: members[name] for name in covered}
            else:
                chosen = {name: _top(scores[m][name], len(members[name])) for name in covered}
            overlap = sum(len(set(chosen[n]) & set(members[n])) for n in covered)
            row = {**base, "method": m, "overlap_with_graph": overlap,
                   "fallback_layers": fallback.get(m, 0)}
            if n_graph:
                row.update(measure(c, chosen, chosen))
            else:   # an empty graph claims nothing: no layer to restrict, nothing to cut
                row.update({"suff_acc": float("nan"), "suff_margin": float("nan"),
                            "nec_acc": clean_acc[c], "nec_drop_own": 0.0, "nec_drop_other": 0.0})
            rows.append(row)
        for m in (CAUSAL, *methods) if covered else ():
            for f in fractions:
                chosen = {name: _top(scores[m][name], max(1, int(round(f * layers[name].size))))
                          for name in covered}
                n = sum(len(v) for v in chosen.values())
                curve.append({"class": c, "method": m, "fraction": float(f), "units": n,
                              "size": n / n_cov, **measure(c, chosen, chosen)})
    settings = {"per_class": per_class, "other_per_class": n_other, "reference_per_class": ref_per_class,
                "reference_seed": ref_seed, "seed": seed, "values": values,
                "controls": [*controls, *rankings], "fractions": list(fractions),
                "data": bundle.spec, "walk": (meta.get("settings") or {}).get("walk", "paper2"),
                "held_out_split": "eval", "reference_split": "fit"}
    return FaithfulnessReport(rows=rows, curve=curve, images=images, reference=ref_idx, settings=settings)
