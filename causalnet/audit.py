"""Audit a model's decisions from its causal graph, and (given the model and data) measure them.

``audit(graph)`` reads only the saved graph; ``audit(graph, model, data)`` adds measurements.
Every statement of the report carries the number it rests on; nothing is asserted unmeasured.

From the graph (METHOD.md sections 3 and 4):

- **class paths**: per class, the units its class graph keeps, per layer (kept / tested), each
  with its strongest edge effect for that class (drop of the class logit when the edge is cut),
  z and p: the causal path from the input to ``logit:c``;
- **shared units**: units in the class graphs of several classes; per class pair, the units both
  rely on (Jaccard overlap), and per shared unit the classes whose true-class probability it
  *lowers* (its per-class global effect: mean log p_y ratio under removal > 0);
- **detrimental units**: the units whose removal significantly raises the true-class probability
  (xi > 1, CI and p from the graph), with the classes they hurt most;
- **capacity per layer**: critical / neutral / detrimental counts, units in no class graph, and
  units with no measurable effect at all (xi = 1 to 1e-6: removing them changes no output);
- **stability**: the graph's stability data where it carries any (node attributes
  ``stability``/``reappearance``, or graph metadata ``stability``), else a note saying so.

With a model and data (``eval`` split):

- **accuracy** overall and per named subgroup (a dataset with ``subgroups``, e.g. colour-biased
  MNIST's aligned / conflicting images);
- **errors through units**: for misclassified inputs, the units whose mean ablation alone turns
  the decision back to the true class, per unit and per confusion (true -> predicted);
- **dead units**: units whose activation is constant over the audited inputs;
- **subgroup cues** (data with subgroups): each unit's effect of mean ablation on the true-class
  log-likelihood, measured separately on each subgroup; units whose removal helps one group
  significantly more than another (Welch z, Benjamini-Hochberg over all units) *favour* the
  other group - for colour-biased MNIST, the units that carry the colour cue. All flagged units
  are then ablated together and each group's accuracy is measured before and after.
"""

from __future__ import annotations

import copy
import html
import json
import math
import os
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .data import DataBundle, class_balanced_indices, stack_samples
from .errors import CausalnetInputError
from .evaluate import predict_logits, prefer_channels_last, true_class_logp
from .fileio import atomic_write_json, atomic_write_text
from .graph import CausalGraph
from .interventions import Ablation, InterventionEngine
from .masking import switched_off
from .nodes import parse_node_id
from .stats import benjamini_hochberg
from .units import UnitMap, discover_units

FORMATS = ("md", "html", "json")
NO_EFFECT_TOL = 1e-6
STABILITY_KEYS = ("stability", "reappearance", "reappearance_rate")


@dataclass
class AuditSettings:
    """What decides the measured parts of an audit (recorded in the report)."""

    top: int = 8                    # units listed per table
    max_errors: int = 200           # misclassified inputs analysed (seeded choice)
    reference_per_class: int = 20   # clean images per class whose means mean ablation uses
    group_samples: int = 300        # inputs per subgroup for the subgroup-cue test
    alpha: float = 0.05
    seed: int = 0

    def validate(self) -> None:
        if self.top < 1 or self.max_errors < 1 or self.reference_per_class < 1 or self.group_samples < 2:
            raise CausalnetInputError("top, max_errors and reference_per_class must be >= 1, "
                                      "group_samples >= 2")
        if not 0 < self.alpha < 1:
            raise CausalnetInputError(f"alpha must be in (0, 1), got {self.alpha}")


# ------------------------------------------------------------------------------ from the graph
def _num(x, digits: int = 4):
    return None if x is None or (isinstance(x, float) and not math.isfinite(x)) else round(float(x), digits)


def _class_paths(graph: CausalGraph, top: int) -> dict:
    layer_size = {entry["name"]: entry.get("size") for entry in graph.nx.graph.get("layers", [])}
    out = {}
    for c in graph.classes():
        meta = graph.nx.graph.get("class_graphs", {}).get(str(c), {})
        tested = {t["layer"]: t for t in meta.get("layers_tested", [])}
        by_layer: dict[str, list[dict]] = defaultdict(list)
        for u in graph.causes_of(c):
            best = None
            for _, _, attrs in graph.nx.out_edges(u, data=True):
                stats = attrs["classes"].get(c)
                if stats and (best is None or (stats["z"] or 0) > (best["z"] or 0)):
                    best = stats
            a = graph.node(u)
            by_layer[a["layer"]].append({
                "unit": u, "effect": _num(best and best["effect"]), "rel_effect": _num(best and best["rel_effect"]),
                "z": _num(best and best["z"], 2), "p": _num(best and best["p"], 6), "xi": _num(a.get("xi")),
                "category": a.get("category")})
        layers = []
        for name in graph.layer_names():
            if name not in by_layer and name not in tested:
                continue
            units = sorted(by_layer.get(name, []), key=lambda r: -(r["effect"] or 0))
            t = tested.get(name, {})
            layers.append({"layer": name, "size": layer_size.get(name), "tested": t.get("candidates"),
                           "kept": len(units), "mode": t.get("mode"), "units": units[:top],
                           "more": max(0, len(units) - top)})
        out[c] = {"n_samples": meta.get("n_samples"), "observed_mean_logit": _num(meta.get("observed_mean_logit")),
                  "units": len(graph.causes_of(c)), "layers": layers, "stopped_at": meta.get("stopped_at")}
    return out


def _hurt_classes(attrs: dict, limit: int = 3) -> list[dict]:
    effects = attrs.get("class_effects") or {}
    hurt = sorted(((c, e) for c, e in effects.items() if e is not None and e > 0), key=lambda t: -t[1])
    return [{"class": int(c), "mean_log_ratio": _num(e)} for c, e in hurt[:limit]]


def _shared(graph: CausalGraph, top: int) -> dict:
    members = {c: set(graph.causes_of(c)) for c in graph.classes()}
    pairs = []
    classes = sorted(members)
    for i, a in enumerate(classes):
        for b in classes[i + 1:]:
            both = members[a] & members[b]
            if both:
                union = members[a] | members[b]
                pairs.append({"classes": [a, b], "shared": len(both), "jaccard": _num(len(both) / len(union), 3),
                              "units": graph.in_order(both)[:top]})
    pairs.sort(key=lambda r: (-r["shared"], r["classes"]))
    units = []
    for u in graph.units():
        a = graph.node(u)
        if len(a.get("classes", [])) >= 2:
            units.append({"unit": u, "classes": a["classes"], "xi": _num(a.get("xi")),
                          "category": a.get("category"), "hurts": _hurt_classes(a)})
    units.sort(key=lambda r: (-len(r["classes"]), r["unit"]))
    return {"n_units": len(units), "pairs": pairs[:top], "units": units[:top], "more_units": max(0, len(units) - top)}


def _detrimental(graph: CausalGraph) -> list[dict]:
    rows = []
    for u in graph.units_by_category("detrimental"):
        a = graph.node(u)
        rows.append({"unit": u, "xi": _num(a.get("xi")), "ci": [_num(a.get("xi_ci_low")), _num(a.get("xi_ci_high"))],
                     "p": _num(a.get("p_value"), 6), "classes": a.get("classes", []), "hurts": _hurt_classes(a)})
    rows.sort(key=lambda r: -(r["xi"] or 0))
    return rows


def _capacity(graph: CausalGraph) -> list[dict]:
    rows = []
    for name in graph.layer_names():
        units = graph.units(name)
        if not units:
            continue
        cats = Counter(graph.node(u).get("category") or "none" for u in units)
        no_effect = sum(1 for u in units if _no_effect(graph.node(u)))
        rows.append({"layer": name, "units": len(units), "critical": cats["critical"], "neutral": cats["neutral"],
                     "detrimental": cats["detrimental"], "uncategorised": cats["none"],
                     "in_no_class_graph": sum(1 for u in units if not graph.node(u).get("classes")),
                     "no_measurable_effect": no_effect})
    return rows


def _no_effect(a: dict) -> bool:
    lo, hi = a.get("xi_ci_low"), a.get("xi_ci_high")
    return lo is not None and hi is not None and abs(lo - 1) < NO_EFFECT_TOL and abs(hi - 1) < NO_EFFECT_TOL


def _stability(graph: CausalGraph) -> dict:
    meta = graph.nx.graph.get("stability")
    nodes = {}
    for u in graph.units():
        a = graph.node(u)
        for key in STABILITY_KEYS:
            if isinstance(a.get(key), int | float):
                nodes[u] = float(a[key])
                break
    if not meta and not nodes:
        return {"available": False,
                "note": "this graph carries no stability data (no `stability` metadata and no per-unit "
                        "reappearance rates); nothing is claimed about it"}
    out: dict = {"available": True}
    if meta:
        out["metadata"] = meta
    if nodes:
        values = np.array(list(nodes.values()))
        out["units_with_rate"] = len(nodes)
        out["mean_rate"] = _num(values.mean(), 3)
        out["least_stable"] = [{"unit": u, "rate": _num(r, 3)} for u, r in sorted(nodes.items(), key=lambda t: t[1])[:8]]
    return out


def _confidence(graph: CausalGraph) -> dict:
    widths = [a["xi_ci_high"] - a["xi_ci_low"] for u in graph.units()
              if (a := graph.node(u)).get("xi_ci_low") is not None and a.get("xi_ci_high") is not None]
    settings = graph.nx.graph.get("settings", {})
    return {"alpha": settings.get("alpha"), "correction": settings.get("correction"),
            "intervention": settings.get("intervention"), "class_test": settings.get("class_test_description",
                                                                                    settings.get("class_test")),
            "global_test": settings.get("global_test"),
            "calibration_per_class": graph.nx.graph.get("data", {}).get("calibration_per_class"),
            "median_xi_ci_width": _num(float(np.median(widths)) if widths else None)}


# ------------------------------------------------------------------------------ measured
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


# ------------------------------------------------------------------------------ the verb
def audit(graph: CausalGraph, model: nn.Module | None = None, data: DataBundle | None = None, *,
          settings: AuditSettings | None = None) -> dict:
    """The audit report of ``graph`` (a JSON-able dict); with ``model`` and ``data`` also the
    measured sections. The graph must have been built from ``model`` (checked by fingerprint)."""
    s = settings or AuditSettings()
    s.validate()
    if (model is None) != (data is None):
        raise CausalnetInputError("an audit measures with a model AND data: give both (--model and --data) "
                                  "or neither (graph only)")
    report = {
        "schema": "causalnet.audit", "schema_version": 1,
        "model": dict(graph.nx.graph.get("model", {})), "graph_data": dict(graph.nx.graph.get("data", {})),
        "summary": {k: v for k, v in graph.summary().items() if k != "classes"},
        "confidence": _confidence(graph),
        "class_paths": _class_paths(graph, s.top),
        "shared": _shared(graph, s.top),
        "detrimental": _detrimental(graph),
        "capacity": _capacity(graph),
        "stability": _stability(graph),
        "settings": asdict(s),
    }
    if model is None:
        return report
    graph.check_model(model)
    net = prefer_channels_last(copy.deepcopy(model).eval())
    x0 = data.eval[0][0].unsqueeze(0)
    units = discover_units(net, x0)
    ref = _reference(data, s)
    report["measured_on"] = {"data": data.spec, "eval_samples": len(data.eval),
                             "reference": f"{len(ref)} class-balanced images of the fit split (mean ablation)"}
    report["errors"] = _errors(net, units, data, ref, s, s.top)
    report["dead"] = _dead(net, units, ref)
    groups = getattr(data.eval, "subgroups", None)
    if groups:
        report["subgroup_accuracy"] = {}
        for g, mask in groups.items():
            idx = torch.nonzero(mask)[:, 0]
            if len(idx):
                x, y = _ds_subset(data.eval, idx)
                acc = (predict_logits(net, (x, y))[0].argmax(1) == y).float().mean().item()
                report["subgroup_accuracy"][g] = {"n": len(idx), "accuracy": _num(acc)}
        sub = _subgroups(net, units, data, ref, s)
        if sub is not None:
            report["subgroups"] = sub
    return report


def flagged_units(report: dict, favoured: str, hurt: str) -> list[str]:
    """Units the audit found favouring subgroup ``favoured`` at the cost of ``hurt``."""
    for d in report.get("subgroups", {}).get("directions", []):
        if d["favoured"] == favoured and d["hurt"] == hurt:
            return [r["unit"] for r in d["units"]]
    return []


# ------------------------------------------------------------------------------ rendering
def _blocks(r: dict) -> list[tuple]:
    """The report as a list of blocks: ("h", level, text), ("p", text), ("table", header, rows)."""
    b: list[tuple] = []
    m = r["model"]
    b.append(("h", 1, f"Audit of {m.get('spec', m.get('architecture', 'a model'))}"))
    s, conf = r["summary"], r["confidence"]
    cats = s["categories"]
    b.append(("p", f"Model fingerprint `{m.get('fingerprint')}`; graph built on `{r['graph_data'].get('spec')}`: "
                   f"{s['units']} units, {s['edges']} causal edges; global effects: {cats.get('critical', 0)} critical, "
                   f"{cats.get('neutral', 0)} neutral, {cats.get('detrimental', 0)} detrimental "
                   f"({conf['calibration_per_class']} calibration images per class, {conf['intervention']} "
                   f"intervention, alpha {conf['alpha']}, correction {conf['correction']}; "
                   f"median 95% CI width of xi: {conf['median_xi_ci_width']}). Class graphs: {conf['class_test']}."))
    if "measured_on" in r:
        mo = r["measured_on"]
        e = r["errors"]
        line = (f"Measured on `{mo['data']}` ({mo['eval_samples']} evaluation inputs): accuracy {e['accuracy']}, "
                f"{e['n_errors']} errors. Mean ablation uses the means over {mo['reference']}.")
        if r.get("subgroup_accuracy"):
            line += " Per subgroup: " + ", ".join(f"{g} {v['accuracy']} (n={v['n']})"
                                                 for g, v in r["subgroup_accuracy"].items()) + "."
        b.append(("p", line))
    # subgroup cues first: they are the findings a reviewer needs most
    if r.get("subgroups"):
        sg = r["subgroups"]
        b.append(("h", 2, "Units that favour one subgroup of inputs over another"))
        if "note" in sg:
            b.append(("p", sg["note"]))
        else:
            cue = f" (the planted cue: {sg['cue']})" if sg.get("cue") else ""
            sizes = ", ".join(f"{n} `{g}`" for g, n in sg["n_per_group"].items())
            b.append(("p", f"Each unit was mean-ablated on {sizes} inputs{cue}; "
                           "effect = mean change of log p(true class) under ablation (> 0: removing the unit "
                           "helps that group). A unit is flagged when removing it helps one group "
                           "significantly more than the other (one-sided Welch z, Benjamini-Hochberg over "
                           f"all units, alpha {r['settings']['alpha']}) and helps that group on average."))
            for d in sg["directions"]:
                fav, hurt = d["favoured"], d["hurt"]
                b.append(("h", 3, f"{d['n_flagged']} units favour `{fav}` inputs at the cost of `{hurt}` inputs"))
                if d["units"]:
                    top = r["settings"]["top"]
                    rows = [[f"`{u['unit']}`", u[f"effect_{fav}"], u[f"effect_{hurt}"], u["difference"], u["z"],
                             u["p_adj"]] for u in d["units"][:top]]
                    b.append(("table", ["unit", f"effect on {fav}", f"effect on {hurt}", "difference", "z",
                                        "p (BH)"], rows))
                    if len(d["units"]) > top:
                        b.append(("p", f"... and {len(d['units']) - top} more (all in the JSON report)."))
                    j = d["joint_ablation"]
                    b.append(("p", f"Ablating these {j['units']} units together: " + "; ".join(
                        f"`{g}` accuracy {v['before']} -> {v['after']}" for g, v in j.items() if g != "units")
                        + " (on the same samples)."))
    b.append(("h", 2, "Causal path of each class"))
    for c, cp in r["class_paths"].items():
        b.append(("h", 3, f"Class {c}: {cp['units']} causal units (from {cp['n_samples']} correctly classified "
                          f"inputs, mean logit {cp['observed_mean_logit']}; walk stopped at `{cp['stopped_at']}`)"))
        rows = []
        for layer in cp["layers"]:
            units = ", ".join(f"`{u['unit']}` ({u['effect']}, z {u['z']}, p {u['p']})" for u in layer["units"])
            if layer["more"]:
                units += f", +{layer['more']} more"
            rows.append([f"`{layer['layer']}`", f"{layer['kept']}/{layer['tested'] or layer['size']}", units or "-"])
        b.append(("table", ["layer", "kept/tested", "units (drop of the class logit when cut, z, p)"], rows))
    sh = r["shared"]
    b.append(("h", 2, "Units shared between classes"))
    b.append(("p", f"{sh['n_units']} units are in the class graphs of two or more classes."))
    if sh["pairs"]:
        b.append(("table", ["classes", "shared units", "Jaccard", "examples"],
                  [[f"{p['classes'][0]} & {p['classes'][1]}", p["shared"], p["jaccard"],
                    ", ".join(f"`{u}`" for u in p["units"][:4])] for p in sh["pairs"]]))
    if sh["units"]:
        b.append(("table", ["unit", "in class graphs of", "xi", "category", "lowers p(true) of classes (mean log ratio)"],
                  [[f"`{u['unit']}`", ", ".join(map(str, u["classes"])), u["xi"], u["category"],
                    _hurt_text(u["hurts"])] for u in sh["units"]]))
    det = r["detrimental"]
    b.append(("h", 2, "Detrimental units (removing them raises the true-class probability)"))
    if det:
        b.append(("table", ["unit", "xi", "95% CI", "p", "hurts classes (mean log ratio)", "in class graphs"],
                  [[f"`{d['unit']}`", d["xi"], f"{d['ci'][0]}..{d['ci'][1]}", d["p"], _hurt_text(d["hurts"]),
                    ", ".join(map(str, d["classes"])) or "-"] for d in det[: r["settings"]["top"] * 3]]))
        if len(det) > r["settings"]["top"] * 3:
            b.append(("p", f"... {len(det)} in all (see the JSON report)."))
    else:
        b.append(("p", "None: no unit's removal significantly raised the true-class probability on the "
                       "graph's calibration set."))
    if "errors" in r:
        e = r["errors"]
        b.append(("h", 2, "Which units the test errors run through"))
        if not e["n_errors"]:
            b.append(("p", "The model makes no error on this data."))
        else:
            b.append(("p", f"{e['analysed']} of {e['n_errors']} misclassified inputs analysed: mean-ablating one "
                           f"unit alone flips {e['fixable_by_one_unit']} of them back to the true class; "
                           f"{e['units_that_flip']} units flip at least one."))
            if e["confusions"]:
                b.append(("table", ["true -> predicted", "errors", "fixable by one unit", "units (errors flipped)"],
                          [[f"{c['true']} -> {c['predicted']}", c["errors"], c["fixable"],
                            ", ".join(f"`{u['unit']}` ({u['flips']})" for u in c["units"]) or "-"]
                           for c in e["confusions"]]))
            if e["units"]:
                b.append(("table", ["unit", "errors flipped", "share", "main confusions"],
                          [[f"`{u['unit']}`", u["flips"], u["share"], ", ".join(u["confusions"])] for u in e["units"]]))
    b.append(("h", 2, "Capacity per layer"))
    dead = {d["layer"]: d for d in r.get("dead", [])}
    header = ["layer", "units", "critical", "neutral", "detrimental", "in no class graph", "no measurable effect"]
    if dead:
        header.append("dead (constant activation)")
    rows = []
    for c in r["capacity"]:
        row = [f"`{c['layer']}`", c["units"], c["critical"], c["neutral"], c["detrimental"], c["in_no_class_graph"],
               c["no_measurable_effect"]]
        if dead:
            row.append(dead.get(c["layer"], {}).get("dead", "-"))
        rows.append(row)
    b.append(("table", header, rows))
    b.append(("h", 2, "Stability"))
    st = r["stability"]
    if not st["available"]:
        b.append(("p", st["note"].capitalize() + "."))
    else:
        if "mean_rate" in st:
            b.append(("p", f"{st['units_with_rate']} units carry a reappearance rate; mean {st['mean_rate']}. "
                           "Least stable: " + ", ".join(f"`{u['unit']}` ({u['rate']})" for u in st["least_stable"])))
        if "metadata" in st:
            b.append(("p", "Graph stability metadata: `" + json.dumps(st["metadata"], sort_keys=True)[:400] + "`"))
    return b


def _hurt_text(hurts: list[dict]) -> str:
    return ", ".join(f"{h['class']} (+{h['mean_log_ratio']})" for h in hurts) or "-"


def to_markdown(report: dict) -> str:
    out = []
    for blk in _blocks(report):
        if blk[0] == "h":
            out += ["#" * blk[1] + " " + blk[2], ""]
        elif blk[0] == "p":
            out += [blk[1], ""]
        else:
            _, header, rows = blk
            out.append("| " + " | ".join(header) + " |")
            out.append("|" + "---|" * len(header))
            out += ["| " + " | ".join("-" if v is None else str(v) for v in row) + " |" for row in rows]
            out.append("")
    return "\n".join(out).rstrip() + "\n"


def _inline(text: str) -> str:
    parts = html.escape(str(text)).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def to_html(report: dict) -> str:
    body = []
    for blk in _blocks(report):
        if blk[0] == "h":
            body.append(f"<h{blk[1]}>{_inline(blk[2])}</h{blk[1]}>")
        elif blk[0] == "p":
            body.append(f"<p>{_inline(blk[1])}</p>")
        else:
            _, header, rows = blk
            head = "".join(f"<th>{_inline(h)}</th>" for h in header)
            cells = "".join("<tr>" + "".join(f"<td>{_inline('-' if v is None else v)}</td>" for v in row) + "</tr>"
                            for row in rows)
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{cells}</tbody></table>")
    style = ("body{font-family:sans-serif;max-width:70em;margin:2em auto;line-height:1.4}"
             "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.2em .5em;"
             "text-align:left;vertical-align:top}code{background:#f3f3f3}")
    title = html.escape(_blocks(report)[0][2])
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>"
            f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n")


def write_report(report: dict, path: str | os.PathLike, fmt: str | None = None) -> Path:
    """Write ``report`` to ``path`` as markdown, HTML or JSON (default: from the suffix)."""
    path = Path(path)
    fmt = fmt or {".html": "html", ".json": "json"}.get(path.suffix.lower(), "md")
    if fmt not in FORMATS:
        raise CausalnetInputError(f"unknown report format {fmt!r}; use one of {', '.join(FORMATS)}")
    if fmt == "json":
        atomic_write_json(path, json.loads(json.dumps(report, default=str)))
    elif fmt == "html":
        atomic_write_text(path, to_html(report))
    else:
        atomic_write_text(path, to_markdown(report))
    return path


__all__ = ["AuditSettings", "audit", "flagged_units", "to_markdown", "to_html", "write_report", "FORMATS"]
