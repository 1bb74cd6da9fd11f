"""The causal explanatory graph: the one data model every other package reads.

A :class:`CausalGraph` wraps a :class:`networkx.DiGraph` (``.nx``) whose nodes are units of a
vision model (conv channels, linear neurons, attention heads, MLP neurons) plus one ``logit:c``
node per class, and whose edges ``u -> v`` say "intervening on ``u`` changes ``v``" for one or
more classes. Graph-level attributes (``.nx.graph``) record where the graph came from (model
fingerprint, data, settings, layers) so a graph can refuse to be applied to another model.

The layout is fixed by ``schema``/``schema_version`` so files written today stay readable;
:mod:`causalnet.graph_io` holds the file formats.
"""

from __future__ import annotations

import copy
import datetime
import math
import numbers
import os
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import networkx as nx

from .errors import CausalnetInputError, GraphFormatError, ModelMismatchError
from .nodes import LOGIT_LAYER, UNIT_KINDS, logit_id

if TYPE_CHECKING:
    from torch import nn

SCHEMA_NAME = "causalnet.graph"
SCHEMA_VERSION = 1

LOGIT_KIND = "logit"
NODE_KINDS = (*UNIT_KINDS, LOGIT_KIND)
CATEGORIES = ("critical", "neutral", "detrimental")
EDGE_MODES = ("edge", "node", "joint")
EDGE_STATS = ("effect", "rel_effect", "z", "p")
FLOAT_NODE_ATTRS = ("xi", "xi_ci_low", "xi_ci_high", "p_value")

# Empty containers every graph carries, so readers never need ``.get(..., {})``.
_DEFAULT_METADATA: dict[str, Any] = {
    "model": {}, "data": {}, "settings": {}, "layers": [], "versions": {}, "class_graphs": {},
}
_REBUILD = "rebuild it with `causalnet build`"


def clean_float(x: Any) -> float | None:
    """``x`` as a plain Python float, or None for None/NaN/inf.

    Accepts numpy and 0-d torch scalars, so builders can pass statistics straight from arrays
    while the graph only ever holds JSON-safe values.
    """
    if x is None:
        return None
    value = float(x)
    return value if math.isfinite(value) else None


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_number_or_none(x: Any) -> bool:
    return x is None or (isinstance(x, numbers.Real) and not isinstance(x, bool))


class CausalGraph:
    """A DAG of model units and class logits, with the provenance needed to trust it.

    ``CausalGraph(nx_graph=None, **metadata)`` wraps ``nx_graph`` (not a copy) or a new empty
    DiGraph; ``metadata`` is merged into ``.nx.graph``. Missing schema fields and metadata
    containers are filled in, so every graph has ``model``, ``data``, ``settings``, ``layers``,
    ``versions``, ``created`` and ``class_graphs``.
    """

    def __init__(self, nx_graph: nx.DiGraph | None = None, **metadata: Any) -> None:
        if nx_graph is None:
            nx_graph = nx.DiGraph()
        if not isinstance(nx_graph, nx.DiGraph) or nx_graph.is_multigraph():
            raise TypeError(f"CausalGraph wraps a networkx.DiGraph, got {type(nx_graph).__name__}")
        self.nx: nx.DiGraph = nx_graph
        meta = self.nx.graph
        meta.update(metadata)
        meta.setdefault("schema", SCHEMA_NAME)
        meta.setdefault("schema_version", SCHEMA_VERSION)
        for key, empty in _DEFAULT_METADATA.items():
            meta.setdefault(key, copy.deepcopy(empty))
        meta.setdefault("created", datetime.date.today().isoformat())

    # ------------------------------------------------------------------ building

    def add_unit(self, node_id: str, *, layer: str, index: int, kind: str, group: str,
                 order: int, **attrs: Any) -> None:
        """Add (or update) the unit ``node_id`` of ``layer``.

        New units start with no statistics (``xi``, CI, ``p_value``, ``category`` None), no
        ``class_effects`` and no ``classes``; ``attrs`` sets or overrides any of them. Updating
        an existing unit keeps the attributes not given (notably its ``classes``).
        """
        if kind not in UNIT_KINDS:
            raise ValueError(f"unit kind must be one of {UNIT_KINDS}, got {kind!r}")
        fields = {"layer": layer, "index": int(index), "kind": kind, "group": group,
                  "order": int(order), **attrs}
        self._normalise_unit_fields(fields)
        if node_id not in self.nx:
            fields = {**self._empty_unit_fields(), **fields}
        self.nx.add_node(node_id, **fields)

    def add_logit(self, c: int, order: int) -> str:
        """Add the output node ``logit:c`` (in class ``c``'s graph) and return its id.

        ``order`` should be larger than every unit layer's, since logits are the last layer.
        """
        c = int(c)
        node_id = logit_id(c)
        fields = {**self._empty_unit_fields(), "layer": LOGIT_LAYER, "index": c,
                  "kind": LOGIT_KIND, "group": LOGIT_LAYER, "order": int(order)}
        if node_id in self.nx:
            fields["classes"] = self.nx.nodes[node_id]["classes"]
        fields["classes"] = sorted({*fields["classes"], c})
        self.nx.add_node(node_id, **fields)
        return node_id

    def add_edge(self, u: str, v: str, cls: int, effect: float, rel_effect: float, z: float,
                 p: float, mode: str) -> None:
        """Record that ``u`` causes ``v`` for class ``cls`` (with the test statistics).

        An existing edge gains (or overwrites) the entry for ``cls`` in its ``classes`` dict;
        ``cls`` is added to both endpoints' ``classes``. Raises ValueError for unknown nodes, an
        unknown ``mode`` or an edge that would close a cycle (the graph must stay a DAG).
        """
        for node in (u, v):
            if node not in self.nx:
                raise ValueError(f"add_edge: unknown node {node!r}; add it with add_unit first")
        if mode not in EDGE_MODES:
            raise ValueError(f"edge mode must be one of {EDGE_MODES}, got {mode!r}")
        if not self.nx.has_edge(u, v):
            if u == v or nx.has_path(self.nx, v, u):
                raise ValueError(f"edge {u} -> {v} would create a cycle")
            self.nx.add_edge(u, v, classes={})
        cls = int(cls)
        stats = dict(zip(EDGE_STATS, map(clean_float, (effect, rel_effect, z, p)), strict=True))
        self.nx.edges[u, v]["classes"][cls] = {**stats, "mode": mode}
        for node in (u, v):
            self._join_class(node, cls)

    @staticmethod
    def _empty_unit_fields() -> dict[str, Any]:
        """The statistics a unit has before anything is measured."""
        return {**dict.fromkeys(FLOAT_NODE_ATTRS), "category": None, "class_effects": {},
                "classes": []}

    @staticmethod
    def _normalise_unit_fields(fields: dict[str, Any]) -> None:
        """Coerce known statistics to plain floats/ints in place (JSON-safe, comparable)."""
        for key in FLOAT_NODE_ATTRS:
            if key in fields:
                fields[key] = clean_float(fields[key])
        if "category" in fields and fields["category"] not in (*CATEGORIES, None):
            raise ValueError(f"category must be one of {CATEGORIES} or None, "
                             f"got {fields['category']!r}")
        if "class_effects" in fields:
            fields["class_effects"] = {int(c): clean_float(e)
                                       for c, e in fields["class_effects"].items()}
        if "classes" in fields:
            fields["classes"] = sorted({int(c) for c in fields["classes"]})

    def _join_class(self, node: str, cls: int) -> None:
        """Put ``node`` into class ``cls``'s graph (keeping ``classes`` sorted and unique)."""
        attrs = self.nx.nodes[node]
        attrs["classes"] = sorted({*attrs.get("classes", []), cls})

    # ------------------------------------------------------------------ queries

    def _sort_key(self, node: str) -> tuple:
        """Input-to-output order: layer order, then layer name, then unit index, then id."""
        a = self.nx.nodes[node]
        return (a.get("order", 0), a.get("layer", ""), a.get("index", 0), node)

    def in_order(self, nodes: Iterable[str] | None = None) -> list[str]:
        """``nodes`` (default: all) sorted input to output: layer order, layer, index, id.

        The one canonical order, so queries and files never depend on insertion order.
        """
        return sorted(self.nx.nodes if nodes is None else nodes, key=self._sort_key)

    def _is_logit(self, node: str) -> bool:
        return self.nx.nodes[node].get("kind") == LOGIT_KIND

    def _in_class(self, node: str, c: int) -> bool:
        return c in self.nx.nodes[node].get("classes", ())

    def units(self, layer: str | None = None) -> list[str]:
        """Ids of all unit (non-logit) nodes, or those of ``layer``, in input-to-output order."""
        return self.in_order(n for n, a in self.nx.nodes(data=True)
                            if a.get("kind") != LOGIT_KIND and (layer is None or a["layer"] == layer))

    def classes(self) -> list[int]:
        """The classes that have a logit node, sorted."""
        return sorted(a["index"] for _, a in self.nx.nodes(data=True) if a.get("kind") == LOGIT_KIND)

    def check_class(self, cls: int) -> int:
        """``cls`` as an int; a CausalnetInputError naming the graph's classes when it has none
        for ``cls``."""
        classes = self.classes()
        if int(cls) not in classes:
            shown = ", ".join(map(str, classes)) or "none"
            raise CausalnetInputError(f"class {cls} has no graph in this file; its classes: {shown}")
        return int(cls)

    def layer_names(self) -> list[str]:
        """Names of the analysed layers in input-to-output order.

        Taken from the ``layers`` metadata (which also lists layers where no unit was kept);
        for a graph without it, derived from the unit nodes.
        """
        if self.nx.graph.get("layers"):
            return [layer["name"] for layer in self.nx.graph["layers"]]
        seen: dict[str, None] = {}
        for n in self.units():
            seen.setdefault(self.nx.nodes[n]["layer"], None)
        return list(seen)

    def node(self, node_id: str) -> dict[str, Any]:
        """The (live, mutable) attribute dict of ``node_id``; KeyError if there is none."""
        if node_id not in self.nx:
            raise KeyError(f"no node {node_id!r} in this graph")
        return self.nx.nodes[node_id]

    def causes_of(self, c: int) -> list[str]:
        """All units in class ``c``'s graph (every node but the logit), input to output."""
        return self.in_order(n for n in self.nx if self._in_class(n, c) and not self._is_logit(n))

    def class_subgraph(self, c: int) -> CausalGraph:
        """Class ``c``'s graph as an independent CausalGraph with the same metadata.

        Keeps the nodes whose ``classes`` contain ``c`` and the edges serving ``c``; attributes
        are deep copies (so edges keep their entries for other classes too).
        """
        view = self._class_view(c)
        sub = nx.DiGraph()
        sub.add_nodes_from(view.nodes(data=True))
        sub.add_edges_from(view.edges(data=True))
        return CausalGraph(copy.deepcopy(sub), **copy.deepcopy(self.nx.graph))

    def _class_view(self, c: int) -> nx.DiGraph:
        """A read-only view of class ``c``'s graph (no copying)."""
        return nx.subgraph_view(
            self.nx,
            filter_node=lambda n: self._in_class(n, c),
            filter_edge=lambda u, v: c in self.nx.edges[u, v].get("classes", {}),
        )

    def path_to_logit(self, node: str, c: int) -> list[str] | None:
        """A shortest causal path from ``node`` to ``logit:c`` inside class ``c``'s graph.

        None when ``node`` is not in that graph or does not reach the logit through it.
        """
        view = self._class_view(c)
        target = logit_id(c)
        if node not in view or target not in view:
            return None
        try:
            return nx.shortest_path(view, node, target)
        except nx.NetworkXNoPath:
            return None

    def units_by_category(self, cat: str | None) -> list[str]:
        """Units whose ``category`` is ``cat`` (None: not categorised), input to output."""
        if cat not in (*CATEGORIES, None):
            raise ValueError(f"category must be one of {CATEGORIES} or None, got {cat!r}")
        return [n for n in self.units() if self.nx.nodes[n].get("category") == cat]

    def category_counts(self) -> dict[str, int]:
        """Number of units per category, with ``"none"`` for uncategorised ones (all keys)."""
        counts = dict.fromkeys((*CATEGORIES, "none"), 0)
        for n in self.units():
            counts[self.nx.nodes[n].get("category") or "none"] += 1
        return counts

    def summary(self) -> dict[str, Any]:
        """Sizes at a glance: nodes, edges, units, per-class counts and category counts."""
        per_class = {}
        for c in self.classes():
            view = self._class_view(c)
            per_class[c] = {"nodes": view.number_of_nodes(), "units": len(self.causes_of(c)),
                            "edges": view.number_of_edges()}
        return {"nodes": self.nx.number_of_nodes(), "edges": self.nx.number_of_edges(),
                "units": len(self.units()), "classes": per_class,
                "categories": self.category_counts()}

    @property
    def fingerprint(self) -> str | None:
        """Fingerprint (``sha256:...``) of the model the graph was built from, if recorded."""
        return (self.nx.graph.get("model") or {}).get("fingerprint")

    @property
    def schema_version(self) -> int:
        """Schema version of this graph's layout."""
        return self.nx.graph["schema_version"]

    def __len__(self) -> int:
        return self.nx.number_of_nodes()

    def __contains__(self, node_id: object) -> bool:
        return node_id in self.nx

    def __repr__(self) -> str:
        return (f"CausalGraph({len(self.units())} units, {len(self.classes())} classes, "
                f"{self.nx.number_of_edges()} edges)")

    # ------------------------------------------------------------------ checks

    def check_model(self, model_or_fingerprint: nn.Module | str) -> None:
        """Raise ModelMismatchError unless the model (or fingerprint) is the graph's model.

        A graph explains one set of weights; applying it to another model would prune or
        explain the wrong units silently, so every consumer calls this first.
        """
        got = model_or_fingerprint
        if not isinstance(got, str):
            from .fingerprint import model_fingerprint

            got = model_fingerprint(got)
        want = self.fingerprint
        if want is None:
            raise ModelMismatchError(
                f"this graph records no model fingerprint, so it cannot be checked against "
                f"model {got[:16]}; {_REBUILD}")
        if got != want:
            raise ModelMismatchError(
                f"model fingerprint {got[:16]} differs from the graph's {want[:16]}: this graph "
                f"was built from another model (or different weights); {_REBUILD}")

    def validate(self) -> None:
        """Raise GraphFormatError naming the first structural problem (see :meth:`problems`)."""
        problem = next(self.problems(), None)
        if problem is not None:
            raise GraphFormatError(f"invalid causal graph: {problem}")

    def problems(self) -> Iterator[str]:
        """Yield what is wrong with the graph, lazily, most basic problems first.

        Checks the schema header, every node's and edge's attributes, and acyclicity; used after
        loading so a hand-edited or foreign file fails with a clear message, not deep inside
        a consumer.
        """
        found = False
        for problem in self._type_problems():
            found = True
            yield problem
        if not found:   # what the graph means, once its types are right (causalnet/validate.py)
            from .validate import semantic_problems

            yield from semantic_problems(self.nx)

    def _type_problems(self) -> Iterator[str]:
        yield from _metadata_problems(self.nx.graph)
        for node, attrs in self.nx.nodes(data=True):
            yield from _node_problems(node, attrs)
        for u, v, attrs in self.nx.edges(data=True):
            yield from _edge_problems(self.nx, u, v, attrs)
        if not nx.is_directed_acyclic_graph(self.nx):
            cycle = [u for u, _ in nx.find_cycle(self.nx)]
            yield "it has a cycle " + " -> ".join([*cycle, cycle[0]])

    # ------------------------------------------------------------------ files

    def save(self, path: str | os.PathLike) -> None:
        """Write the graph atomically; the suffix picks the format (``.json``, ``.graphml``)."""
        from .graph_io import save_graph

        save_graph(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> CausalGraph:
        """Read and validate a graph written by :meth:`save` (format from the suffix)."""
        from .graph_io import load_graph

        return load_graph(path)


def _metadata_problems(meta: dict[str, Any]) -> Iterator[str]:
    """Problems of the graph-level attributes (schema header and metadata container types)."""
    if meta.get("schema") != SCHEMA_NAME:
        yield f"schema is {meta.get('schema')!r}, expected {SCHEMA_NAME!r}"
    if not _is_int(meta.get("schema_version")) or meta["schema_version"] < 1:
        yield f"schema_version is {meta.get('schema_version')!r}, expected a positive integer"
    for key, empty in _DEFAULT_METADATA.items():
        if key in meta and not isinstance(meta[key], type(empty)):
            yield f"graph attribute {key!r} should be a {type(empty).__name__}"
    for i, layer in enumerate(meta.get("layers") or []):
        if not isinstance(layer, dict) or not isinstance(layer.get("name"), str):
            yield f"layers[{i}] has no string 'name'"


def _node_problems(node: Any, a: dict[str, Any]) -> Iterator[str]:
    """Problems of one node's attributes, named after the node."""
    where = f"node {node!r}"
    if not isinstance(node, str):
        yield f"{where}: node ids must be strings"
    for key in ("layer", "group"):
        if not isinstance(a.get(key), str):
            yield f"{where} has no string {key!r}"
    if a.get("kind") not in NODE_KINDS:
        yield f"{where} has kind {a.get('kind')!r}, expected one of {NODE_KINDS}"
    elif a["kind"] == LOGIT_KIND and a.get("layer") != LOGIT_LAYER:
        yield f"{where} is a logit but its layer is {a.get('layer')!r}"
    for key in ("index", "order"):
        if not _is_int(a.get(key)):
            yield f"{where} has no integer {key!r}"
    if "id" in a:
        yield f"{where} has an attribute named 'id', which is reserved for the node id"
    for key in FLOAT_NODE_ATTRS:
        if not _is_number_or_none(a.get(key)):
            yield f"{where}: {key} is {a[key]!r}, expected a number or None"
    if a.get("category") not in (*CATEGORIES, None):
        yield f"{where} has category {a['category']!r}, expected one of {CATEGORIES} or None"
    effects = a.get("class_effects", {})
    if not isinstance(effects, dict) or not all(
            _is_int(c) and _is_number_or_none(e) for c, e in effects.items()):
        yield f"{where}: class_effects must map integer classes to numbers"
    classes = a.get("classes", [])
    if (not isinstance(classes, list) or not all(_is_int(c) for c in classes)
            or classes != sorted(set(classes))):
        yield f"{where}: classes must be a sorted list of distinct integers, got {classes!r}"


def _edge_problems(g: nx.DiGraph, u: str, v: str, a: dict[str, Any]) -> Iterator[str]:
    """Problems of one edge's attributes: the per-class statistics and class membership."""
    where = f"edge {u!r} -> {v!r}"
    if "source" in a or "target" in a:
        yield f"{where} has an attribute named 'source' or 'target', which are reserved"
    classes = a.get("classes")
    if not isinstance(classes, dict) or not classes:
        yield f"{where} has no 'classes' dict (class -> statistics)"
        return
    for c, stats in classes.items():
        if not _is_int(c):
            yield f"{where}: class key {c!r} is not an integer"
        elif not isinstance(stats, dict):
            yield f"{where}: statistics for class {c} are not a dict"
        elif not all(_is_number_or_none(stats.get(k)) for k in EDGE_STATS):
            yield f"{where}: class {c} needs numeric {', '.join(EDGE_STATS)}"
        elif stats.get("mode") not in EDGE_MODES:
            yield f"{where}: class {c} has mode {stats.get('mode')!r}, expected one of {EDGE_MODES}"
        else:
            for node in (u, v):
                if c not in (g.nodes[node].get("classes") or ()):
                    yield f"{where} serves class {c} but node {node!r} is not in class {c}'s graph"
