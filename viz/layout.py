"""A layered layout of a causal graph: one rank per unit layer, input to logits.

Every picture of a graph (Graphviz, the matplotlib fallback, the HTML explorer) is drawn from
the same :class:`Layout`, so the three show the same nodes and edges. A real model has
hundreds of units per layer; a layer with more than ``top`` units to show is *collapsed*: its
``top`` units with the largest |effect| are drawn and the rest become one summary node
``"LAYER (+N more)"``, which inherits their edges. Units on a causal path (of the selected
class, or of any class without one) are drawn before the others. The layout can show one class's subgraph
only, or the whole graph with one class's causal path highlighted.

Effects: with a class ``c`` a unit's effect is ``class_effects[c]`` (mean log ratio of the
class probability with the unit switched off; negative = the unit supports ``c``); without a
class it is ``log(xi)``, the same quantity over all classes. Edges use the effect recorded for
the class (or the largest over classes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from causalnet.errors import CausalnetInputError
from causalnet.graph import LOGIT_KIND, LOGIT_LAYER, CausalGraph

DEFAULT_TOP = 12

UNIT, LOGIT, SUMMARY = "unit", "logit", "summary"
# Positions are in abstract units: ranks ``RANK_GAP`` apart along x, nodes ``ROW_GAP`` apart along y.
RANK_GAP = 3.0
ROW_GAP = 1.0


@dataclass
class LayoutNode:
    """One drawn node: a graph unit, a logit, or a summary of a collapsed layer's other units."""

    id: str                       # graph node id, or "more:LAYER" for a summary node
    label: str                    # short text drawn in or next to the node
    layer: str
    rank: int
    kind: str                     # UNIT, LOGIT or SUMMARY
    x: float = 0.0
    y: float = 0.0
    category: str | None = None
    effect: float | None = None   # signed (see module docstring); None when unknown
    hidden: list[str] = field(default_factory=list)  # SUMMARY: the graph nodes it stands for
    classes: list[int] = field(default_factory=list)
    highlighted: bool = False     # on the selected class's causal graph
    attrs: dict[str, Any] = field(default_factory=dict)  # the graph node's statistics

    @property
    def is_graph_node(self) -> bool:
        """True for units and logits (nodes of the CausalGraph), False for summary nodes."""
        return self.kind != SUMMARY


@dataclass
class LayoutEdge:
    """One drawn edge; several graph edges folded into a summary node become one."""

    source: str
    target: str
    effect: float | None          # for the selected class, else the largest |effect|
    classes: dict[int, float | None] = field(default_factory=dict)  # class -> effect
    highlighted: bool = False
    merged: int = 1               # how many graph edges this drawn edge stands for


@dataclass
class Layout:
    """Ranks, nodes with positions and edges of one picture of a graph."""

    ranks: list[str]              # layer names, input to output (the last is "logit")
    nodes: list[LayoutNode]
    edges: list[LayoutEdge]
    cls: int | None = None
    only_class: bool = False
    top: int = DEFAULT_TOP
    collapsed: dict[str, int] = field(default_factory=dict)  # layer -> units hidden

    def node(self, node_id: str) -> LayoutNode:
        """The drawn node ``node_id`` (KeyError if it is not drawn)."""
        for n in self.nodes:
            if n.id == node_id:
                return n
        raise KeyError(node_id)

    def graph_node_ids(self) -> list[str]:
        """Ids of the graph nodes drawn (units and logits; summary nodes excluded)."""
        return [n.id for n in self.nodes if n.is_graph_node]

    def max_abs_effect(self) -> float:
        """Largest |effect| over drawn nodes (1.0 when none is known), for scaling sizes."""
        values = [abs(n.effect) for n in self.nodes if n.effect is not None]
        return max(values, default=0.0) or 1.0

    def max_abs_edge_effect(self) -> float:
        """Largest |effect| over drawn edges (1.0 when none is known), for pen widths."""
        values = [abs(e.effect) for e in self.edges if e.effect is not None]
        return max(values, default=0.0) or 1.0

    def bounds(self) -> tuple[float, float, float, float]:
        """(xmin, ymin, xmax, ymax) of the node positions."""
        if not self.nodes:
            return (0.0, 0.0, 0.0, 0.0)
        xs = [n.x for n in self.nodes]
        ys = [n.y for n in self.nodes]
        return (min(xs), min(ys), max(xs), max(ys))


def check_class(graph: CausalGraph, cls: int | None) -> int | None:
    """``cls`` as an int (None stays None), checked by :meth:`CausalGraph.check_class`."""
    return None if cls is None else graph.check_class(cls)


def node_effect(attrs: dict[str, Any], cls: int | None) -> float | None:
    """The signed effect of a node (class effect for ``cls``, else ``log(xi)``), or None."""
    if attrs.get("kind") == LOGIT_KIND:
        return None
    if cls is not None:
        value = (attrs.get("class_effects") or {}).get(cls)
        return None if value is None else float(value)
    xi = attrs.get("xi")
    if xi is not None:
        return math.log(max(float(xi), 1e-6))
    values = [v for v in (attrs.get("class_effects") or {}).values() if v is not None]
    return sum(values) / len(values) if values else None


def edge_effect(classes: dict[int, dict], cls: int | None) -> float | None:
    """The effect of a graph edge for ``cls``, or its largest |effect| over classes."""
    if cls is not None and cls in classes:
        return classes[cls].get("effect")
    values = [s.get("effect") for s in classes.values() if s.get("effect") is not None]
    return max(values, key=abs) if values else None


def _layer_ranks(graph: CausalGraph) -> list[str]:
    """Unit layers input to output, then the logits: by ``order``, but causes before effects.

    ``order`` is the execution order of a layer's first writer, so a ResNet's residual stream
    (first written by the stem) comes before the blocks whose inner channels write into it
    again, and edges block -> stream would point backwards. The ranks are therefore a
    topological order of the layers under the graph's edges, ties broken by ``order``; where
    the layers' edges form a cycle (not produced by the builder) plain ``order`` is used.
    """
    order: dict[str, tuple[int, int]] = {}
    for i, layer in enumerate(graph.nx.graph.get("layers") or []):
        order[layer["name"]] = (int(layer.get("order", i)), i)
    for n in graph.nx:
        a = graph.nx.nodes[n]
        if a.get("kind") != LOGIT_KIND and a["layer"] not in order:
            order[a["layer"]] = (int(a.get("order", 0)), len(order))
    by_order = sorted(order, key=order.__getitem__)
    layers = nx.DiGraph()
    layers.add_nodes_from(by_order)
    for u, v in graph.nx.edges:
        lu, lv = graph.nx.nodes[u]["layer"], graph.nx.nodes[v]["layer"]
        if lu != lv and lu in order and lv in order:
            layers.add_edge(lu, lv)
    try:
        ranked = list(nx.lexicographical_topological_sort(layers, key=order.__getitem__))
    except nx.NetworkXUnfeasible:
        ranked = by_order
    return ranked + [LOGIT_LAYER]


def _stats(attrs: dict[str, Any]) -> dict[str, Any]:
    """The statistics shown for a node (tooltips), JSON-safe."""
    return {
        "layer": attrs.get("layer"), "index": attrs.get("index"), "kind": attrs.get("kind"),
        "xi": attrs.get("xi"), "xi_ci_low": attrs.get("xi_ci_low"),
        "xi_ci_high": attrs.get("xi_ci_high"), "p_value": attrs.get("p_value"),
        "category": attrs.get("category"),
        "class_effects": {int(c): e for c, e in (attrs.get("class_effects") or {}).items()},
        "classes": list(attrs.get("classes") or []),
    }


def layout(graph: CausalGraph, *, cls: int | None = None, top: int = DEFAULT_TOP,
           only_class: bool = False) -> Layout:
    """Lay ``graph`` out in ranks, collapsing layers with more than ``top`` units to show.

    ``cls`` highlights class ``cls``'s causal graph (its units are shown before others in a
    collapsed layer); with ``only_class`` only that subgraph is laid out (and ranks without
    any of its units are left out). Raises CausalnetInputError for an unknown class, a
    ``top`` below 1, or ``only_class`` without a class.
    """
    cls = check_class(graph, cls)
    if int(top) < 1:
        raise CausalnetInputError(f"top must be at least 1, got {top}")
    top = int(top)
    if only_class and cls is None:
        raise CausalnetInputError("showing only a class's subgraph needs a class (--class C)")
    g = graph.nx

    def in_class(n: str) -> bool:
        return cls is not None and cls in (g.nodes[n].get("classes") or ())

    def on_a_path(n: str) -> bool:  # shown first in a collapsed layer
        classes = g.nodes[n].get("classes") or ()
        return cls in classes if cls is not None else bool(classes)

    if only_class:
        keep = {n for n in g if in_class(n)}
        edges = [(u, v, a) for u, v, a in g.edges(data=True)
                 if u in keep and v in keep and cls in a.get("classes", {})]
    else:
        keep = set(g)
        edges = list(g.edges(data=True))
    ranks = _layer_ranks(graph)
    if only_class:
        used = {g.nodes[n]["layer"] for n in keep}
        ranks = [r for r in ranks if r in used]
    rank_of = {name: i for i, name in enumerate(ranks)}

    # --- choose the nodes drawn per rank, and what each graph node is drawn as
    drawn: dict[str, str] = {}                 # graph node -> drawn node id
    nodes: list[LayoutNode] = []
    collapsed: dict[str, int] = {}
    by_layer: dict[str, list[str]] = {}
    for n in graph.in_order(keep):
        by_layer.setdefault(g.nodes[n]["layer"], []).append(n)
    for layer in ranks:
        members = by_layer.get(layer, [])

        def priority(n: str) -> tuple:
            e = node_effect(g.nodes[n], cls)
            return (not on_a_path(n), -abs(e) if e is not None else 0.0,
                    g.nodes[n].get("index", 0), n)

        is_logit_rank = layer == LOGIT_LAYER
        shown = members if is_logit_rank or len(members) <= top else sorted(members, key=priority)[:top]
        shown_set = set(shown)
        for n in graph.in_order(shown):
            a = g.nodes[n]
            kind = LOGIT if a.get("kind") == LOGIT_KIND else UNIT
            nodes.append(LayoutNode(
                id=n, label=str(a.get("index")) if kind == UNIT else f"logit {a.get('index')}",
                layer=layer, rank=rank_of[layer], kind=kind, category=a.get("category"),
                effect=node_effect(a, cls), classes=list(a.get("classes") or []),
                highlighted=in_class(n), attrs=_stats(a)))
            drawn[n] = n
        rest = [n for n in members if n not in shown_set]
        if rest:
            sid = f"more:{layer}"
            effects = [node_effect(g.nodes[n], cls) for n in rest]
            effects = [e for e in effects if e is not None]
            classes = sorted({c for n in rest for c in (g.nodes[n].get("classes") or ())})
            nodes.append(LayoutNode(
                id=sid, label=f"{layer} (+{len(rest)} more)", layer=layer, rank=rank_of[layer],
                kind=SUMMARY, effect=max(effects, key=abs) if effects else None, hidden=rest,
                classes=classes, highlighted=cls is not None and cls in classes,
                attrs={"layer": layer, "hidden": len(rest)}))
            collapsed[layer] = len(rest)
            for n in rest:
                drawn[n] = sid

    # --- fold graph edges onto drawn nodes
    folded: dict[tuple[str, str], LayoutEdge] = {}
    for u, v, a in edges:
        su, sv = drawn.get(u), drawn.get(v)
        if su is None or sv is None or su == sv:
            continue
        per_class = {int(c): s.get("effect") for c, s in a.get("classes", {}).items()}
        if only_class:
            per_class = {cls: per_class.get(cls)}
        eff = edge_effect(a.get("classes", {}), cls)
        hl = cls is not None and cls in per_class
        key = (su, sv)
        if key in folded:
            e = folded[key]
            e.merged += 1
            e.highlighted = e.highlighted or hl
            for c, x in per_class.items():
                old = e.classes.get(c)
                if old is None or (x is not None and abs(x) > abs(old)):
                    e.classes[c] = x
            if eff is not None and (e.effect is None or abs(eff) > abs(e.effect)):
                e.effect = eff
        else:
            folded[key] = LayoutEdge(su, sv, eff, per_class, hl)
    out_edges = sorted(folded.values(), key=lambda e: (e.source, e.target))

    result = Layout(ranks=ranks, nodes=nodes, edges=out_edges, cls=cls, only_class=only_class,
                    top=top, collapsed=collapsed)
    _position(result)
    return result


def _position(lay: Layout) -> None:
    """Give nodes x (rank) and y (row) positions; order rows to reduce crossings.

    Rows within a rank are ordered by the mean row of the node's drawn parents (barycentre
    heuristic, one sweep input to output); a summary node goes last. Each rank is centred on 0.
    """
    parents: dict[str, list[str]] = {}
    for e in lay.edges:
        parents.setdefault(e.target, []).append(e.source)
    by_rank: dict[int, list[LayoutNode]] = {}
    for n in lay.nodes:
        by_rank.setdefault(n.rank, []).append(n)
    row: dict[str, float] = {}
    for rank in sorted(by_rank):
        members = by_rank[rank]

        def key(item: tuple[int, LayoutNode]) -> tuple:
            i, n = item
            ys = [row[p] for p in parents.get(n.id, []) if p in row]
            centre = sum(ys) / len(ys) if ys else None
            return (n.kind == SUMMARY, centre is None, centre if centre is not None else 0.0, i)

        ordered = [n for _, n in sorted(enumerate(members), key=key)]
        offset = (len(ordered) - 1) / 2
        for i, n in enumerate(ordered):
            n.x = rank * RANK_GAP
            n.y = (i - offset) * ROW_GAP
            row[n.id] = n.y
    # keep lay.nodes in rank, then row order, so every renderer draws in the same order
    lay.nodes.sort(key=lambda n: (n.rank, n.y))
