"""The audit's measured checks (a model and data): accuracy per subgroup, errors through units,
dead units and subgroup cues, each switching units off through :mod:`causalnet.masking` or the
intervention engine. See :mod:`causalnet.audit` for what each check says."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from typing import TYPE_CHECKING

import numpy as np
import torch

from .audit_sections import _num
from .data import DataBundle, class_balanced_indices, stack_samples
from .evaluate import predict_logits, true_class_logp
from .interventions import Ablation, InterventionEngine
from .masking import switched_off
from .nodes import parse_node_id
from .stats import benjamini_hochberg
from .units import UnitMap

if TYPE_CHECKING:
    from .audit import AuditSettings


def _ds_subset(ds, idx):
    return stack_samples(ds, [int(i) for i in idx])


def _reference(bundle: DataBundle, s: AuditSettings) -> torch.Tensor:
    idx = class_balanced_indices(bundle.fit.targets, s.reference_per_class, seed=s.seed, strict=False)
    return _ds_subset(bundle.fit, idx)[0]


def _errors(net, units: UnitMap, bundle: DataBundle, ref: torch.Tensor, s: AuditSettings, top: int) -> dict:
    logits, y = predict_logits(net, bundle.eval)
    pred = logits.argmax(1)
    wrong = torch.nonzero(pred != y)[:, 0]
    n_wrong = len(wrong)
    out = {"n_eval": len(y), "n_errors": n_wrong, "accuracy": _num(1 - n_wrong / max(1, len(y)))}
    if n_wrong == 0:
        return {**out, "analysed": 0, "units": [], "confusions": []}
    if n_wrong > s.max_errors:
        g = torch.Generator().manual_seed(s.seed)
        wrong = wrong[torch.randperm(n_wrong, generator=g)[: s.max_errors]].sort().values
    x, yy = _ds_subset(bundle.eval, wrong)
    p0 = pred[wrong]
    engine = InterventionEngine(net, units, x, ablation=Ablation("mean"), reference=ref)
    flips: dict[str, torch.Tensor] = {}
    for layer in units:
        lg = engine.ablate(layer, range(layer.size))
        fixed = lg.argmax(2) == yy.view(1, -1)
        for j in range(layer.size):
            if fixed[j].any():
                flips[layer.node_id(j)] = fixed[j]
    any_fix = torch.zeros(len(yy), dtype=torch.bool)
    for f in flips.values():
        any_fix |= f
    per_unit = sorted(((u, int(f.sum())) for u, f in flips.items()), key=lambda t: (-t[1], t[0]))
    conf = Counter(zip(yy.tolist(), p0.tolist(), strict=True))
    confusions = []
    for (t, p), n in conf.most_common(top):
        sel = (yy == t) & (p0 == p)
        ranked = sorted(((u, int(f[sel].sum())) for u, f in flips.items() if f[sel].any()), key=lambda q: (-q[1], q[0]))
        confusions.append({"true": t, "predicted": p, "errors": n, "fixable": int((any_fix & sel).sum()),
                           "units": [{"unit": u, "flips": k} for u, k in ranked[:5]]})
    unit_rows = []
    for u, k in per_unit[:top]:
        f = flips[u]
        pairs = Counter((int(t), int(p)) for t, p, hit in zip(yy, p0, f, strict=True) if hit)
        unit_rows.append({"unit": u, "flips": k, "share": _num(k / len(yy), 3),
                          "confusions": [f"{t}->{p}: {n}" for (t, p), n in pairs.most_common(3)]})
    return {**out, "analysed": len(yy), "fixable_by_one_unit": int(any_fix.sum()),
            "units_that_flip": len(flips), "units": unit_rows, "confusions": confusions}


def _dead(net, units: UnitMap, x: torch.Tensor) -> list[dict]:
    """Units whose input to their first reader is constant over ``x``."""
    stats: dict[str, torch.Tensor] = {}
    handles = []
    for layer in units:
        reader = layer.readers[0]

        def pre(mod, args, layer=layer, reader=reader):
            t = args[0].float()
            axis = reader.axis(t.ndim)
            t = t.movedim(axis, 0).reshape(t.shape[axis], -1)
            stats[layer.name] = torch.stack([t[reader.index[j]].std(unbiased=False).max()
                                             if len(reader.index[j]) else torch.tensor(0.0)
                                             for j in range(layer.size)])
        handles.append(reader.module.register_forward_pre_hook(pre))
    try:
        with torch.inference_mode():
            net(x)
    finally:
        for h in handles:
            h.remove()
    rows = []
    for layer in units:
        sd = stats.get(layer.name)
        if sd is None:
            continue
        dead = [layer.node_id(j) for j in range(layer.size) if float(sd[j]) < 1e-8]
        rows.append({"layer": layer.name, "units": layer.size, "dead": len(dead), "examples": dead[:5]})
    return rows


def _group_samples(ds, mask: torch.Tensor, n: int, seed: int) -> np.ndarray:
    idx = torch.nonzero(mask)[:, 0]
    if len(idx) <= n:
        return idx.numpy()
    targets = torch.as_tensor(ds.targets)[idx]
    per_class = max(1, n // max(1, len(torch.unique(targets))))
    chosen = class_balanced_indices(targets, per_class, seed=seed, strict=False)
    return idx[torch.as_tensor(chosen, dtype=torch.long)].numpy()


def _subgroups(net, units: UnitMap, bundle: DataBundle, ref: torch.Tensor, s: AuditSettings) -> dict | None:
    groups = getattr(bundle.eval, "subgroups", None)
    if not groups or len(groups) < 2:
        return None
    names = list(groups)
    effects: dict[str, dict[str, np.ndarray]] = {}
    samples: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    engine_means = None
    for g in names:
        idx = _group_samples(bundle.eval, groups[g], s.group_samples, s.seed)
        if len(idx) < 2:
            return {"groups": names, "note": f"subgroup {g!r} has {len(idx)} input(s) in this data; "
                                             "at least 2 are needed to compare groups"}
        x, y = _ds_subset(bundle.eval, idx)
        samples[g] = (x, y)
        engine = InterventionEngine(net, units, x, ablation=Ablation("mean"), reference=ref)
        engine_means = engine.means
        clean = true_class_logp(engine.clean, y)
        effects[g] = {layer.name: (true_class_logp(engine.ablate(layer, range(layer.size)), y) - clean).double().numpy()
                      for layer in units}
    ids = [layer.node_id(j) for layer in units for j in range(layer.size)]
    mean = {g: np.concatenate([e.mean(1) for e in effects[g].values()]) for g in names}
    se = {g: np.concatenate([e.std(1, ddof=1) / math.sqrt(e.shape[1]) for e in effects[g].values()])
          for g in names}
    directions = []
    for favoured in names:
        for hurt in names:
            if favoured == hurt:
                continue
            # removal helps `hurt` more than `favoured`: the unit favours `favoured` at `hurt`'s cost
            diff = mean[hurt] - mean[favoured]
            z = diff / np.sqrt(se[hurt] ** 2 + se[favoured] ** 2 + 1e-24)
            from scipy.stats import norm

            p = norm.sf(z)
            p_adj = benjamini_hochberg(p)
            flagged = np.flatnonzero((p_adj < s.alpha) & (mean[hurt] > 0))
            flagged = flagged[np.argsort(-diff[flagged], kind="stable")]
            rows = [{"unit": ids[i], f"effect_{favoured}": _num(mean[favoured][i]),
                     f"effect_{hurt}": _num(mean[hurt][i]), "difference": _num(diff[i]),
                     "z": _num(z[i], 2), "p_adj": _num(p_adj[i], 6)} for i in flagged]
            joint = _joint_check(net, units, [ids[i] for i in flagged], engine_means, samples) if len(flagged) else None
            directions.append({"favoured": favoured, "hurt": hurt, "n_flagged": len(rows),
                               "units": rows, "joint_ablation": joint})
    return {"groups": names, "n_per_group": {g: len(samples[g][1]) for g in names},
            "cue": getattr(bundle.eval, "bias_cue", None), "directions": directions}


def _joint_check(net, units: UnitMap, chosen_ids: list[str], means, samples) -> dict:
    chosen: dict[str, list[int]] = defaultdict(list)
    for u in chosen_ids:
        layer, j = parse_node_id(u)
        chosen[layer].append(j)
    out = {"units": len(chosen_ids)}
    for g, (x, y) in samples.items():
        before = (predict_logits(net, (x, y))[0].argmax(1) == y).float().mean().item()
        with switched_off(units, chosen, values="mean", means=means):
            after = (predict_logits(net, (x, y))[0].argmax(1) == y).float().mean().item()
        out[g] = {"before": _num(before), "after": _num(after)}
    return out
