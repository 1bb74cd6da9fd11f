"""The audit's sections read from the causal graph alone (METHOD.md sections 3 and 4): class
paths, shared units, detrimental units, capacity per layer, stability, confidence. See
:mod:`causalnet.audit` for what each section says."""

from __future__ import annotations

import math
from collections import Counter, defaultdict

import numpy as np

from .graph import CausalGraph

NO_EFFECT_TOL = 1e-6
STABILITY_KEYS = ("stability", "reappearance", "reappearance_rate")


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
                           "more": max(0, len(units) - top),
                           **({"joint_test": {k: t.get(k) for k in ("held_kept", "held_one_fewer", "target_held")}}
                              if t.get("mode") == "joint" else {})})
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
