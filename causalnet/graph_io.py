"""File formats of :class:`~causalnet.graph.CausalGraph`: JSON (native), GraphML, PyG export.

JSON is the native format: networkx node-link data with sorted nodes, edges and keys, so equal
graphs give byte-identical files. GraphML is for Gephi/yEd: scalar attributes stay native
GraphML types (colour by ``xi`` or ``category``), the rest is stored as ``json:``-prefixed
strings so nothing is lost. Every loader validates and refuses bad input with a
:class:`~causalnet.errors.GraphFormatError` that says what is wrong and what to do.
"""

from __future__ import annotations

import io
import json
import math
import numbers
import os
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import networkx as nx

from .errors import GraphFormatError
from .fileio import atomic_write, atomic_write_json
from .graph import CATEGORIES, LOGIT_KIND, SCHEMA_NAME, SCHEMA_VERSION, CausalGraph

if TYPE_CHECKING:
    from torch_geometric.data import Data

JSON_PREFIX = "json:"
NULLS_ATTR = "_null"  # GraphML: names of the attributes that are None on this element
_REBUILD = "rebuild it with `causalnet build`"


# ---------------------------------------------------------------------- plain values


def jsonable(x: Any, where: str = "value") -> Any:
    """``x`` with only JSON types: plain floats/ints, lists, dicts with string keys.

    numpy/torch scalars and arrays become Python numbers and lists, tuples become lists,
    NaN/inf become None (JSON has no NaN) and non-string dict keys become strings. Anything
    else raises TypeError naming ``where``, before a half-written file could exist.
    """
    if x is None or isinstance(x, bool):
        return x
    if isinstance(x, str):
        return str(x)  # str subclasses (torch.__version__) become plain strings
    if isinstance(x, numbers.Integral):
        return int(x)
    if isinstance(x, numbers.Real):
        value = float(x)
        return value if math.isfinite(value) else None
    if isinstance(x, dict):
        return {str(k): jsonable(v, f"{where}[{k!r}]") for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v, f"{where}[{i}]") for i, v in enumerate(x)]
    if hasattr(x, "tolist"):  # numpy/torch scalars and arrays
        return jsonable(x.tolist(), where)
    raise TypeError(f"{where} has a value of type {type(x).__name__} that cannot be saved")


def _int_keys(d: Any, where: str) -> dict[int, Any]:
    """A class-keyed dict read from a file (string keys) with its keys back as ints."""
    if not isinstance(d, dict):
        raise GraphFormatError(f"{where} should be a dict of class -> value")
    out = {}
    for k, v in d.items():
        try:
            out[int(k)] = v
        except (TypeError, ValueError):
            raise GraphFormatError(f"{where}: class key {k!r} is not an integer") from None
    return dict(sorted(out.items()))


def _restore_node(node: Any, attrs: dict[str, Any]) -> None:
    """Undo the file encoding of one node's class-keyed attributes, in place."""
    if "class_effects" in attrs:
        attrs["class_effects"] = _int_keys(attrs["class_effects"], f"node {node!r}: class_effects")


def _restore_edge(u: Any, v: Any, attrs: dict[str, Any]) -> None:
    """Undo the file encoding of one edge's class-keyed ``classes`` dict, in place."""
    if "classes" in attrs:
        attrs["classes"] = _int_keys(attrs["classes"], f"edge {u!r} -> {v!r}: classes")


def _plain_copy(graph: CausalGraph, node_attrs: Callable, edge_attrs: Callable) -> nx.DiGraph:
    """A DiGraph in stable order whose attributes are ``node_attrs(n, a)``/``edge_attrs(u, v, a)``."""
    g = nx.DiGraph()
    for n in graph.in_order():
        g.add_node(n, **node_attrs(n, graph.nx.nodes[n]))
    for u, v in sorted(graph.nx.edges):
        g.add_edge(u, v, **edge_attrs(u, v, graph.nx.edges[u, v]))
    return g


def _check_savable(graph: CausalGraph) -> None:
    """Refuse to write a graph that could not be loaded back."""
    problem = next(graph.problems(), None)
    if problem is not None:
        raise GraphFormatError(f"refusing to save an invalid causal graph: {problem}")


# ---------------------------------------------------------------------- loading helpers


def _check_header(meta: Any, source: str) -> None:
    """Refuse files that are not causalnet graphs, or come from a newer schema."""
    schema = meta.get("schema") if isinstance(meta, dict) else None
    if schema != SCHEMA_NAME:
        found = "no schema" if schema is None else f"schema {schema!r}"
        raise GraphFormatError(
            f"{source} is not a causalnet graph ({found}, expected {SCHEMA_NAME!r}); "
            f"pass a graph file written by `causalnet build`")
    version = meta.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise GraphFormatError(
            f"{source} has an invalid schema_version {version!r}; {_REBUILD}")
    if version > SCHEMA_VERSION:
        raise GraphFormatError(
            f"{source} was written by a newer causalnet (schema {version} > {SCHEMA_VERSION}); "
            f"upgrade causalnet")


def _invalid(source: str, problem: str) -> GraphFormatError:
    """The error for a file that is a causalnet graph in name but broken inside."""
    return GraphFormatError(f"{source} is not a valid causalnet graph: {problem}; {_REBUILD}")


@contextmanager
def _problems_of(source: str) -> Iterator[None]:
    """Reword a GraphFormatError raised while decoding as a problem of file ``source``."""
    try:
        yield
    except GraphFormatError as e:
        raise _invalid(source, str(e)) from None


def _validated(g: nx.DiGraph, source: str) -> CausalGraph:
    """Wrap a freshly read DiGraph and refuse it with its first structural problem."""
    graph = CausalGraph(g)
    problem = next(graph.problems(), None)
    if problem is not None:
        raise _invalid(source, problem)
    return graph


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, or a GraphFormatError saying why there are none."""
    if not path.exists():
        raise GraphFormatError(
            f"graph file {path} does not exist; check the path or build one with `causalnet build`")
    if not path.is_file():
        raise GraphFormatError(f"graph path {path} is not a file; pass a .json or .graphml graph")
    try:
        return path.read_bytes()
    except OSError as e:
        raise GraphFormatError(f"cannot read graph file {path}: {e}") from e


# ---------------------------------------------------------------------- JSON


def to_json_dict(graph: CausalGraph) -> dict[str, Any]:
    """Node-link data of ``graph`` with only JSON types and a stable order.

    Class-keyed dicts (node ``class_effects``, edge ``classes``) get string keys, as JSON
    requires; :func:`from_json_dict` turns them back into ints.
    """
    plain = _plain_copy(graph, lambda n, a: a, lambda u, v, a: a)
    plain.graph.update(graph.nx.graph)
    data = nx.node_link_data(plain, edges="edges")
    return jsonable(data, "graph")


def from_json_dict(d: Any, *, source: str = "graph data") -> CausalGraph:
    """The validated CausalGraph of node-link data ``d`` (as made by :func:`to_json_dict`).

    ``source`` names the data in error messages (the file path when loading a file).
    """
    if not isinstance(d, dict):
        raise GraphFormatError(
            f"{source} is not a causalnet graph (top level is a {type(d).__name__}, expected "
            f"an object); pass a graph file written by `causalnet build`")
    _check_header(d.get("graph"), source)
    nodes, edges = _node_link_parts(d, source)
    restored = {**d, "directed": True, "multigraph": False, "nodes": nodes, "edges": edges}
    g = nx.node_link_graph(restored, directed=True, multigraph=False, edges="edges")
    return _validated(g, source)


def _node_link_parts(d: dict[str, Any], source: str) -> tuple[list[dict], list[dict]]:
    """Copies of ``d``'s nodes and edges with class keys restored, after structural checks.

    node_link_graph would silently create a node for an edge to an unknown id, so edge
    endpoints are checked here, before it runs.
    """
    if d.get("directed") is False or d.get("multigraph") is True:
        raise _invalid(source, "it is not a simple directed graph")
    nodes, edges = d.get("nodes"), d.get("edges")
    if not isinstance(nodes, list) or not isinstance(edges, list):
        raise _invalid(source, "'nodes' and 'edges' must be lists")
    with _problems_of(source):
        out_nodes = _restored_nodes(nodes)
        ids = {node["id"] for node in out_nodes}
        out_edges = _restored_edges(edges, ids)
    return out_nodes, out_edges


def _restored_nodes(nodes: list[Any]) -> list[dict]:
    """Node-link node records, checked for ids and with int class keys."""
    ids: set[str] = set()
    out = []
    for i, node in enumerate(nodes):
        if not isinstance(node, dict) or not isinstance(node.get("id"), str):
            raise GraphFormatError(f"nodes[{i}] has no string 'id'")
        if node["id"] in ids:
            raise GraphFormatError(f"node {node['id']!r} appears twice")
        ids.add(node["id"])
        node = dict(node)
        _restore_node(node["id"], node)
        out.append(node)
    return out


def _restored_edges(edges: list[Any], ids: set[str]) -> list[dict]:
    """Node-link edge records, checked for known endpoints and with int class keys."""
    out = []
    for i, edge in enumerate(edges):
        if not isinstance(edge, dict):
            raise GraphFormatError(f"edges[{i}] is not an object")
        u, v = edge.get("source"), edge.get("target")
        for end in (u, v):
            if not isinstance(end, str):
                raise GraphFormatError(f"edges[{i}] has an endpoint {end!r} that is not a node id string")
            if end not in ids:
                raise GraphFormatError(f"edges[{i}] ({u!r} -> {v!r}) refers to unknown node {end!r}")
        edge = dict(edge)
        _restore_edge(u, v, edge)
        out.append(edge)
    return out


def save_json(graph: CausalGraph, path: str | os.PathLike) -> Path:
    """Write ``graph`` as deterministic JSON (equal graphs, identical bytes), atomically."""
    _check_savable(graph)
    return atomic_write_json(path, to_json_dict(graph))


def load_json(path: str | os.PathLike) -> CausalGraph:
    """Read and validate a JSON graph; GraphFormatError (with what to do) if it is not one."""
    path = Path(path)
    raw = _read_bytes(path)
    try:
        d = json.loads(raw.decode("utf-8"))
    except RecursionError:
        raise GraphFormatError(f"{path} nests JSON too deeply to be a causal graph; {_REBUILD}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise GraphFormatError(
            f"{path} is not valid JSON (truncated or edited?): {e}; {_REBUILD}") from e
    try:
        return from_json_dict(d, source=str(path))
    except RecursionError:
        raise GraphFormatError(f"{path} nests JSON too deeply to be a causal graph; {_REBUILD}") from None


# ---------------------------------------------------------------------- GraphML


def _native_type(v: Any) -> type | None:
    """The GraphML-native type of a JSON value, or None if it must be stored as JSON text."""
    if type(v) in (bool, int, float):
        return type(v)
    if isinstance(v, str) and not v.startswith(JSON_PREFIX):
        return str
    return None


def _native_columns(rows: Iterable[dict[str, Any]]) -> set[str]:
    """Attribute names whose non-None values share one native type across all ``rows``.

    Only those stay native, so every GraphML key has one type (Gephi/yEd can colour by it);
    mixed or structured columns are stored as JSON text.
    """
    types: dict[str, set] = {}
    for row in rows:
        for k, v in row.items():
            if v is not None:
                types.setdefault(k, set()).add(_native_type(v))
    return {k for k, ts in types.items() if len(ts) == 1 and None not in ts}


def _encode_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """GraphML-ready attribute dicts: native scalars as is, the rest as ``json:`` text.

    A None is left out (GraphML's "missing") and its name recorded in ``_null``, so the
    round trip can tell None from absent.
    """
    native = _native_columns(rows)
    encoded = []
    for row in rows:
        out: dict[str, Any] = {}
        nulls = sorted(k for k, v in row.items() if v is None)
        for k, v in row.items():
            if v is not None:
                out[k] = v if k in native else _json_text(v)
        if nulls:
            out[NULLS_ATTR] = _json_text(nulls)
        encoded.append(out)
    return encoded


def _json_text(v: Any) -> str:
    return JSON_PREFIX + json.dumps(v, sort_keys=True, allow_nan=False, separators=(",", ":"))


def _decode_attrs(attrs: dict[str, Any], where: str) -> dict[str, Any]:
    """Inverse of :func:`_encode_rows` for one element."""
    out = {}
    for k, v in attrs.items():
        if isinstance(v, str) and v.startswith(JSON_PREFIX):
            try:
                v = json.loads(v[len(JSON_PREFIX):])
            except RecursionError:
                raise GraphFormatError(f"{where}: attribute {k!r} nests JSON too deeply") from None
            except json.JSONDecodeError as e:
                raise GraphFormatError(f"{where}: attribute {k!r} holds bad JSON ({e})") from e
        out[k] = v
    for k in out.pop(NULLS_ATTR, None) or []:
        out[k] = None
    return out


def _graphml_graph(graph: CausalGraph) -> nx.DiGraph:
    """A plain-scalar copy of ``graph`` for GraphML, in stable order."""
    g = _plain_copy(graph, lambda n, a: jsonable(a, f"node {n!r}"),
                    lambda u, v, a: jsonable(a, f"edge {u!r} -> {v!r}"))
    for rows in ([g.nodes[n] for n in g], [g.edges[e] for e in g.edges]):
        for attrs, encoded in zip(rows, _encode_rows(rows), strict=True):
            attrs.clear()
            attrs.update(encoded)
    (meta,) = _encode_rows([jsonable(graph.nx.graph, "graph")])
    g.graph.update(meta)
    return g


def save_graphml(graph: CausalGraph, path: str | os.PathLike) -> Path:
    """Write ``graph`` as plain GraphML (opens in Gephi/yEd), atomically and losslessly."""
    _check_savable(graph)
    g = _graphml_graph(graph)
    return atomic_write(path, lambda tmp: nx.write_graphml(g, tmp))


def load_graphml(path: str | os.PathLike) -> CausalGraph:
    """Read and validate a GraphML graph written by :func:`save_graphml`."""
    path = Path(path)
    raw = _read_bytes(path)
    try:
        g = nx.read_graphml(io.BytesIO(raw))
    except (ET.ParseError, nx.NetworkXError, ValueError, KeyError) as e:
        raise GraphFormatError(
            f"{path} is not valid GraphML (truncated or edited?): {e}; {_REBUILD}") from e
    return _decode_graphml(g, str(path))


def _decode_graphml(g: nx.Graph, source: str) -> CausalGraph:
    """Turn a freshly read GraphML graph back into the CausalGraph it was written from."""
    if not isinstance(g, nx.DiGraph) or g.is_multigraph():
        raise _invalid(source, "it is not a simple directed graph")
    # read_graphml adds these (GraphML <default> values); they are not graph metadata
    attrs = {k: v for k, v in g.graph.items() if k not in ("node_default", "edge_default")}
    with _problems_of(source):
        meta = _decode_attrs(attrs, "graph attributes")
    _check_header(meta, source)
    out = nx.DiGraph()
    out.graph.update(meta)
    with _problems_of(source):
        for n, attrs in g.nodes(data=True):
            node = _decode_attrs(attrs, f"node {n!r}")
            _restore_node(n, node)
            out.add_node(n, **node)
        for u, v, attrs in g.edges(data=True):
            edge = _decode_attrs(attrs, f"edge {u!r} -> {v!r}")
            _restore_edge(u, v, edge)
            out.add_edge(u, v, **edge)
    return _validated(out, source)


# ---------------------------------------------------------------------- dispatch


_SAVERS = {".json": save_json, ".graphml": save_graphml}
_LOADERS = {".json": load_json, ".graphml": load_graphml}


def _format_of(path: str | os.PathLike, table: dict[str, Callable]) -> Callable:
    suffix = Path(path).suffix.lower()
    if suffix not in table:
        raise GraphFormatError(
            f"unknown graph format {suffix or '(no suffix)'!r} for {path}; use .json or .graphml")
    return table[suffix]


def save_graph(graph: CausalGraph, path: str | os.PathLike) -> Path:
    """Write ``graph`` in the format named by ``path``'s suffix (``.json`` or ``.graphml``)."""
    return _format_of(path, _SAVERS)(graph, path)


def load_graph(path: str | os.PathLike) -> CausalGraph:
    """Read a graph in the format named by ``path``'s suffix (``.json`` or ``.graphml``)."""
    return _format_of(path, _LOADERS)(path)


# ---------------------------------------------------------------------- PyTorch Geometric

PYG_NODE_FEATURES = ("order", "index", "xi", "is_logit",
                     *(f"cat_{c}" for c in CATEGORIES), "cat_none")
PYG_EDGE_FEATURES = ("effect_max", "n_classes")


def _pyg_node_features(attrs: dict[str, Any]) -> dict[str, float]:
    """The numeric features of one node (see PYG_NODE_FEATURES); a missing xi counts as 0."""
    xi = attrs.get("xi")
    category = attrs.get("category") or "none"
    feats = {"order": float(attrs["order"]), "index": float(attrs["index"]),
             "xi": float(xi) if xi is not None and math.isfinite(xi) else 0.0,
             "is_logit": float(attrs["kind"] == LOGIT_KIND)}
    feats.update({f"cat_{c}": float(category == c) for c in (*CATEGORIES, "none")})
    return feats


def _pyg_edge_features(attrs: dict[str, Any]) -> dict[str, float]:
    """The numeric features of one edge: its largest (signed) effect and how many classes."""
    effects = [s["effect"] for s in attrs["classes"].values() if s.get("effect") is not None]
    return {"effect_max": float(max(effects, default=0.0)),
            "n_classes": float(len(attrs["classes"]))}


def to_pyg(graph: CausalGraph) -> Data:
    """``graph`` as a ``torch_geometric.data.Data`` for graph learning.

    ``x`` columns are PYG_NODE_FEATURES, ``edge_attr`` columns PYG_EDGE_FEATURES (float32);
    ``node_ids`` and ``layer`` are Python lists aligned with the rows of ``x``.
    """
    import torch
    from torch_geometric.utils import from_networkx

    plain = _plain_copy(graph, lambda n, a: _pyg_node_features(a),
                        lambda u, v, a: _pyg_edge_features(a))
    has_edges = plain.number_of_edges() > 0
    data = from_networkx(plain, group_node_attrs=list(PYG_NODE_FEATURES) if len(plain) else None,
                         group_edge_attrs=list(PYG_EDGE_FEATURES) if has_edges else None)
    if len(plain) == 0:
        data.x = torch.zeros((0, len(PYG_NODE_FEATURES)))
    if not has_edges:
        data.edge_attr = torch.zeros((0, len(PYG_EDGE_FEATURES)))
    data.x = data.x.float()
    data.edge_attr = data.edge_attr.float()
    data.node_ids = list(plain.nodes)
    data.layer = [graph.nx.nodes[n]["layer"] for n in plain.nodes]
    return data
