"""What a causal graph must mean, beyond its types: checked on every load, before any consumer.

:meth:`causalnet.graph.CausalGraph.problems` checks types and acyclicity; this module checks that
the numbers make sense together: every unit sits inside a recorded layer (its index below the
layer's size), logits are classes of the model, edges lead towards the logits (a logit has no
outgoing edge, no edge joins two units of one layer, and an edge of class ``c`` that ends at a
logit ends at ``logit:c``), every statistic is finite, and the metadata consumers read (model fingerprint,
input shape, layers, class graphs, settings) has the types they expect.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import networkx as nx

from .graph import EDGE_STATS, FLOAT_NODE_ATTRS, LOGIT_KIND, LOGIT_LAYER

_INT_LOG_FIELDS = ("candidates", "exact_tests", "kept")


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _finite_or_none(x: Any) -> bool:
    return x is None or (isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x))


def _model_problems(model: dict) -> Iterator[str]:
    fp = model.get("fingerprint")
    if fp is not None and not isinstance(fp, str):
        yield f"model fingerprint is {fp!r}, expected a string"
    for key in ("spec", "architecture"):
        if key in model and not isinstance(model[key], str | None):
            yield f"model {key} is {model[key]!r}, expected a string"
    n = model.get("num_classes")
    if n is not None and (not _is_int(n) or n < 1):
        yield f"model num_classes is {n!r}, expected a positive integer"
    shape = model.get("input_shape")
    if shape is not None and (not isinstance(shape, list) or not shape or len(shape) > 4
                              or not all(_is_int(s) and s > 0 for s in shape)):
        yield f"model input_shape is {shape!r}, expected a list of 1 to 4 positive integers"


def _layer_problems(layers: list) -> Iterator[str]:
    names: set[str] = set()
    for i, layer in enumerate(layers):
        if not isinstance(layer, dict):
            continue   # reported by graph.problems
        where = f"layers[{i}] ({layer.get('name')!r})"
        if layer.get("name") in names:
            yield f"{where} appears twice"
        names.add(layer.get("name"))
        if not _is_int(layer.get("size")) or layer["size"] < 1:
            yield f"{where} has size {layer.get('size')!r}, expected a positive integer"
        if not _is_int(layer.get("order")) or layer["order"] < 0:
            yield f"{where} has order {layer.get('order')!r}, expected an integer >= 0"
        for key in ("readers", "producers"):
            value = layer.get(key, [])
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                yield f"{where}: {key} must be a list of module names"


def _class_graph_problems(class_graphs: dict) -> Iterator[str]:
    for c, cg in class_graphs.items():
        where = f"class_graphs[{c!r}]"
        if not isinstance(c, str) or not c.isdigit():
            yield f"{where}: the key must be a class index"
            continue
        if not isinstance(cg, dict):
            yield f"{where} should be a dict"
            continue
        if not _is_int(cg.get("n_samples")) or cg["n_samples"] < 0:
            yield f"{where}: n_samples is {cg.get('n_samples')!r}, expected an integer >= 0"
        if not _finite_or_none(cg.get("observed_mean_logit")):
            yield f"{where}: observed_mean_logit is {cg.get('observed_mean_logit')!r}, expected a finite number"
        if not isinstance(cg.get("stopped_at"), str | None):
            yield f"{where}: stopped_at should be a layer name or null"
        log = cg.get("layers_tested")
        if not isinstance(log, list):
            yield f"{where}: layers_tested is {log!r}, expected a list"
            continue
        for k, row in enumerate(log):
            if not isinstance(row, dict) or not isinstance(row.get("layer"), str):
                yield f"{where}: layers_tested[{k}] should be a dict with a string 'layer'"
            elif not all(_is_int(row.get(f)) and row[f] >= 0 for f in _INT_LOG_FIELDS if f in row):
                yield f"{where}: layers_tested[{k}] needs integer {', '.join(_INT_LOG_FIELDS)}"
            elif not all(isinstance(row.get(f), str) for f in ("effects_of", "mode") if f in row):
                yield f"{where}: layers_tested[{k}] needs string effects_of and mode"


def _settings_problems(settings: dict, data: dict) -> Iterator[str]:
    alpha = settings.get("alpha")
    if alpha is not None and (not _finite_or_none(alpha) or not 0 < alpha < 1):
        yield f"settings alpha is {alpha!r}, expected a number in (0, 1)"
    for key, value in settings.items():
        if isinstance(value, float) and not math.isfinite(value):
            yield f"settings {key} is {value!r}, expected a finite number"
    classes = settings.get("classes")
    if classes is not None and (not isinstance(classes, list) or not all(_is_int(c) and c >= 0 for c in classes)):
        yield f"settings classes is {classes!r}, expected a list of class indices"
    for key in ("samples_per_class", "calibration_per_class"):
        for where, d in (("settings", settings), ("data", data)):
            if key in d and (not _is_int(d[key]) or d[key] < 0):
                yield f"{where} {key} is {d[key]!r}, expected an integer >= 0"


def metadata_problems(meta: dict) -> Iterator[str]:
    """Problems of the graph-level metadata consumers read."""
    model, layers = meta.get("model"), meta.get("layers")
    if isinstance(model, dict):
        yield from _model_problems(model)
    if isinstance(layers, list):
        yield from _layer_problems(layers)
    if isinstance(meta.get("class_graphs"), dict):
        yield from _class_graph_problems(meta["class_graphs"])
    if isinstance(meta.get("settings"), dict) and isinstance(meta.get("data", {}), dict):
        yield from _settings_problems(meta["settings"], meta.get("data", {}))


def _node_problems(g: nx.DiGraph, layers: dict[str, dict], num_classes: Any) -> Iterator[str]:
    for node, a in g.nodes(data=True):
        where = f"node {node!r}"
        for key in FLOAT_NODE_ATTRS:
            if not _finite_or_none(a.get(key)):
                yield f"{where}: {key} is {a.get(key)!r}, expected a finite number or None"
        effects = a.get("class_effects")
        if isinstance(effects, dict) and not all(_finite_or_none(v) for v in effects.values()):
            yield f"{where}: class_effects must be finite numbers"
        index = a.get("index")
        if not _is_int(index) or index < 0:
            yield f"{where}: index {index!r} must be an integer >= 0"
            continue
        if a.get("kind") == LOGIT_KIND:
            if node != f"{LOGIT_LAYER}:{index}":
                yield f"{where} is the logit of class {index}; its id must be '{LOGIT_LAYER}:{index}'"
            if _is_int(num_classes) and index >= num_classes:
                yield f"{where}: class {index} is not below the model's {num_classes} classes"
            if g.out_degree(node):
                yield f"{where} is a logit but has outgoing edges (edges must lead towards the logits)"
            continue
        layer = layers.get(a.get("layer"))
        if layer is None:
            yield f"{where}: its layer {a.get('layer')!r} is not among the graph's layers"
            continue
        if _is_int(layer.get("size")) and index >= layer["size"]:
            yield f"{where}: index {index} is outside its layer {a['layer']!r} of {layer['size']} units"
        if layer.get("order") != a.get("order"):
            yield f"{where}: order {a.get('order')!r} differs from its layer's {layer.get('order')!r}"
        if node not in (f"{a['layer']}:{index}", f"{a['layer']}:h{index}"):
            yield f"{where}: its id does not match its layer {a['layer']!r} and index {index}"


def _edge_problems(g: nx.DiGraph) -> Iterator[str]:
    for u, v, a in g.edges(data=True):
        where = f"edge {u!r} -> {v!r}"
        classes = a.get("classes")
        if not isinstance(classes, dict):
            continue   # reported by graph.problems
        for c, stats in classes.items():
            if not isinstance(stats, dict):
                continue
            missing = [k for k in EDGE_STATS if k not in stats]
            if missing:
                yield f"{where}: class {c} lacks {', '.join(missing)}"
            elif not all(_finite_or_none(stats.get(k)) for k in EDGE_STATS):
                yield f"{where}: class {c} has a statistic that is not a finite number"
            p = stats.get("p")
            if isinstance(p, int | float) and not 0 <= p <= 1:
                yield f"{where}: class {c} has p = {p!r}, expected a probability"
            if g.nodes[v].get("kind") == LOGIT_KIND and v != f"{LOGIT_LAYER}:{c}":
                yield f"{where} serves class {c} but ends at another class's logit"
        if g.nodes[u].get("layer") == g.nodes[v].get("layer"):
            yield f"{where} joins two units of one layer (edges lead from a layer towards the logits)"


def semantic_problems(g: nx.DiGraph) -> Iterator[str]:
    """Yield what makes graph ``g`` meaningless (see the module docstring), lazily."""
    meta = g.graph
    yield from metadata_problems(meta)
    layers_list = meta.get("layers") if isinstance(meta.get("layers"), list) else []
    layers = {layer["name"]: layer for layer in layers_list
              if isinstance(layer, dict) and isinstance(layer.get("name"), str)}
    has_units = any(a.get("kind") != LOGIT_KIND for _, a in g.nodes(data=True))
    if has_units and not layers:
        yield "it has unit nodes but its 'layers' list is empty"
        return
    model = meta.get("model") if isinstance(meta.get("model"), dict) else {}
    yield from _node_problems(g, layers, model.get("num_classes"))
    yield from _edge_problems(g)


__all__ = ["metadata_problems", "semantic_problems"]
