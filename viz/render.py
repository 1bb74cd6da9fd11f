"""Draw a causal graph to SVG, PNG, PDF or DOT (Graphviz, or matplotlib where it is missing).

Both back ends draw the same :func:`viz.layout.layout`: one column per unit layer (input on the
left, logits on the right), nodes coloured by category (or by effect for one class), sized by
|effect|, edges as wide as their effect. Every node carries the SVG id ``node-<graph id>`` in
both back ends, so a drawing can be checked (or scripted) by node id whichever one made it.
DOT text needs no Graphviz binary; the other formats use ``dot`` when it is on PATH and fall
back to matplotlib with a one-line notice on stderr otherwise.
"""

from __future__ import annotations

import math
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from causalnet.errors import CausalnetInputError
from causalnet.fileio import atomic_write_bytes, atomic_write_text
from causalnet.graph import CausalGraph

from ._io import save_figure
from .layout import DEFAULT_TOP, LOGIT, SUMMARY, Layout, LayoutNode, layout
from .style import (  # noqa: F401 (the colours stay importable from viz.render)
    CATEGORY_COLORS,
    CRITICAL_COLOR,
    DETRIMENTAL_COLOR,
    DIM_ALPHA,
    DIM_EDGE_COLOR,
    EDGE_COLOR,
    EFFECT_CMAP,
    HIGHLIGHT_EDGE_COLOR,
    LOGIT_COLOR,
    MAX_NODE,
    MAX_PEN,
    MIN_NODE,
    MIN_PEN,
    NEUTRAL_COLOR,
    SUMMARY_COLOR,
    UNCATEGORISED_COLOR,
    edge_width,
    node_size,
)

FORMATS = ("svg", "png", "pdf", "dot", "html")
COLOR_BY = ("category", "effect")
PNG_DPI = 110


def output_format(out: str | os.PathLike, fmt: str | None) -> str:
    """The format to write: ``fmt`` if given, else ``out``'s suffix (``.gv`` counts as dot)."""
    if fmt is None:
        fmt = Path(out).suffix.lstrip(".").lower()
        fmt = {"gv": "dot", "htm": "html"}.get(fmt, fmt)
        if not fmt:
            raise CausalnetInputError(f"cannot tell the format of {str(out)!r}: give it a suffix "
                                      f"({', '.join(FORMATS)}) or a format")
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise CausalnetInputError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    return fmt


def has_graphviz() -> bool:
    """True when Graphviz's ``dot`` binary is on PATH."""
    return shutil.which("dot") is not None


# ---------------------------------------------------------------------------- styling

def _hex_to_rgb(color: str) -> tuple[float, float, float]:
    color = color.lstrip("#")
    return tuple(int(color[i:i + 2], 16) / 255 for i in (0, 2, 4))  # type: ignore[return-value]


def _rgb_to_hex(rgb: tuple[float, ...]) -> str:
    return "#" + "".join(f"{round(max(0.0, min(1.0, c)) * 255):02x}" for c in rgb[:3])


def node_color(node: LayoutNode, color_by: str, max_effect: float) -> str:
    """Fill colour (hex) of a node: its category's colour, or its effect on the diverging map."""
    if node.kind == LOGIT:
        return LOGIT_COLOR
    if node.kind == SUMMARY:
        return SUMMARY_COLOR
    if color_by == "effect":
        if node.effect is None:
            return UNCATEGORISED_COLOR
        from matplotlib import colormaps

        # square-root scaled: effects are heavy-tailed, a linear scale leaves most nodes white
        scaled = math.copysign(math.sqrt(min(1.0, abs(node.effect) / max_effect)), node.effect)
        value = 0.5 + 0.5 * scaled
        return _rgb_to_hex(colormaps[EFFECT_CMAP](value))
    return CATEGORY_COLORS.get(node.category, UNCATEGORISED_COLOR)


def _dimmed(lay: Layout, highlighted: bool) -> bool:
    """Whether an element is drawn faded (a class is highlighted and it is not on its graph)."""
    return lay.cls is not None and not lay.only_class and not highlighted


def _fmt_num(x: Any) -> str:
    if x is None:
        return "n/a"
    x = float(x)
    return f"{x:.3g}" if math.isfinite(x) else "n/a"


def node_tooltip(node: LayoutNode) -> str:
    """One-line statistics of a node (Graphviz tooltips, the HTML explorer mirrors it)."""
    if node.kind == SUMMARY:
        return f"{node.label}: {len(node.hidden)} units not drawn"
    a = node.attrs
    return (f"{node.id} | layer {a.get('layer')} | {a.get('kind')} | xi {_fmt_num(a.get('xi'))} "
            f"[{_fmt_num(a.get('xi_ci_low'))}, {_fmt_num(a.get('xi_ci_high'))}] | "
            f"p {_fmt_num(a.get('p_value'))} | {a.get('category') or 'uncategorised'} | "
            f"classes {a.get('classes')}")


def _title(graph: CausalGraph, lay: Layout) -> str:
    spec = (graph.nx.graph.get("model") or {}).get("spec") or "model"
    what = (f"class {lay.cls} graph" if lay.only_class else
            f"causal graph, class {lay.cls} highlighted" if lay.cls is not None else "causal graph")
    return f"{spec}: {what} (top {lay.top} units per layer)"


# ---------------------------------------------------------------------------- graphviz

def to_pydot(graph: CausalGraph, lay: Layout, *, color_by: str = "category"):
    """The layout as a :class:`pydot.Dot` (one same-rank cluster per layer, left to right)."""
    import pydot

    max_e = lay.max_abs_effect()
    max_w = lay.max_abs_edge_effect()
    dot = pydot.Dot("causal_graph", graph_type="digraph", rankdir="LR", newrank="true",
                    nodesep="0.08", ranksep="1.1", fontname="Helvetica", labelloc="t",
                    label=_title(graph, lay), fontsize="16", bgcolor="white")
    dot.set_node_defaults(fontname="Helvetica", fontsize="8", style="filled", penwidth="0.8")
    dot.set_edge_defaults(arrowsize="0.4")
    name = {n.id: f"n{i}" for i, n in enumerate(lay.nodes)}
    anchors = []
    for rank, layer in enumerate(lay.ranks):
        cluster = pydot.Cluster(f"rank{rank}", label=layer, fontsize="11", style="rounded",
                                color="#cccccc", fontname="Helvetica")
        same = pydot.Subgraph(f"same{rank}", rank="same")
        anchor = f"a{rank}"
        anchors.append(anchor)
        same.add_node(pydot.Node(anchor, style="invis", shape="point", width="0", label=""))
        for n in (n for n in lay.nodes if n.rank == rank):
            dim = _dimmed(lay, n.highlighted)
            fill = node_color(n, color_by, max_e)
            attrs: dict[str, Any] = {"id": f"node-{n.id}", "tooltip": node_tooltip(n),
                                     "label": n.label, "fillcolor": fill}
            if n.kind == SUMMARY:
                attrs.update(shape="box", style="dashed,filled,rounded", fontsize="9")
            elif n.kind == LOGIT:
                attrs.update(shape="box", style="filled,rounded", fontsize="10")
            else:
                size = node_size(n, max_e)
                attrs.update(shape="circle", fixedsize="true", width=f"{size:.3f}")
                if n.category == "critical" and color_by == "category":
                    attrs["fontcolor"] = "white"
            if dim:
                attrs["fillcolor"] = fill + f"{round(DIM_ALPHA * 255):02x}"
                attrs["color"] = "#bbbbbb"
                attrs["fontcolor"] = "#999999"
            elif lay.cls is not None and not lay.only_class:
                attrs["penwidth"] = "2"
            same.add_node(pydot.Node(name[n.id], **attrs))
        cluster.add_subgraph(same)
        dot.add_subgraph(cluster)
    for a, b in zip(anchors, anchors[1:], strict=False):  # keeps the columns in layer order
        dot.add_edge(pydot.Edge(a, b, style="invis", weight="10"))
    for e in lay.edges:
        dim = _dimmed(lay, e.highlighted)
        color = DIM_EDGE_COLOR if dim else (HIGHLIGHT_EDGE_COLOR if lay.cls is not None else EDGE_COLOR)
        tip = f"{e.source} -> {e.target}: effect {_fmt_num(e.effect)}"
        if e.merged > 1:
            tip += f" ({e.merged} edges)"
        dot.add_edge(pydot.Edge(name[e.source], name[e.target], color=color, tooltip=tip,
                                penwidth=f"{edge_width(e.effect, max_w):.2f}"))
    return dot


# ---------------------------------------------------------------------------- matplotlib

def figure_size(lay: Layout) -> tuple[float, float]:
    """Size in inches of the matplotlib drawing: a column per rank, a line per row."""
    _, ymin, _, ymax = lay.bounds()
    return (max(6.0, 1.7 * len(lay.ranks) + 1), max(3.5, 0.42 * (ymax - ymin + 1) + 1.6))


def draw_matplotlib(graph: CausalGraph, lay: Layout, *, color_by: str = "category"):
    """The layout drawn on a matplotlib Figure (no pyplot state); nodes get gid ``node-<id>``."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    max_e = lay.max_abs_effect()
    max_w = lay.max_abs_edge_effect()
    xmin, ymin, xmax, ymax = lay.bounds()
    fig = Figure(figsize=figure_size(lay))
    ax = fig.add_axes((0.01, 0.01, 0.98, 0.9))
    ax.set_axis_off()
    ax.set_xlim(xmin - 1.6, xmax + 1.6)
    ax.set_ylim(ymax + 0.8, ymin - 1.4)          # row 0 at the top, like Graphviz
    fig.suptitle(_title(graph, lay), fontsize=11)
    pos = {n.id: (n.x, n.y) for n in lay.nodes}
    for rank, layer in enumerate(lay.ranks):
        xs = [n.x for n in lay.nodes if n.rank == rank]
        if xs:
            ax.text(xs[0], ymin - 1.0, layer, ha="center", va="center", fontsize=8,
                    color="#444444")
    for e in lay.edges:
        (x0, y0), (x1, y1) = pos[e.source], pos[e.target]
        dim = _dimmed(lay, e.highlighted)
        color = DIM_EDGE_COLOR if dim else (HIGHLIGHT_EDGE_COLOR if lay.cls is not None else EDGE_COLOR)
        ax.add_line(Line2D([x0, x1], [y0, y1], lw=edge_width(e.effect, max_w) * 0.7, color=color,
                           alpha=0.5 if dim else 0.8, zorder=1, gid=f"edge-{e.source}->{e.target}"))
    for n in lay.nodes:
        dim = _dimmed(lay, n.highlighted)
        alpha = DIM_ALPHA if dim else 1.0
        fill = node_color(n, color_by, max_e)
        edge = "#bbbbbb" if dim else "#333333"
        text_color = "#999999" if dim else ("white" if n.category == "critical" and
                                           color_by == "category" and n.kind not in (LOGIT, SUMMARY)
                                           else "black")
        if n.kind in (SUMMARY, LOGIT):
            style = "round,pad=0.25"
            label = n.label.replace(" (+", "\n(+") if n.kind == SUMMARY else n.label
            ax.text(n.x, n.y, label, ha="center", va="center", fontsize=7 if n.kind == SUMMARY else 8,
                    color=text_color, zorder=3, gid=f"node-{n.id}",
                    bbox={"boxstyle": style, "facecolor": fill, "edgecolor": edge, "alpha": alpha,
                          "linestyle": "--" if n.kind == SUMMARY else "-"})
        else:
            size_pt = node_size(n, max_e) * 72
            ax.scatter([n.x], [n.y], s=size_pt ** 2, c=[fill], edgecolors=edge, linewidths=0.8,
                       alpha=alpha, zorder=2, gid=f"node-{n.id}")
            ax.text(n.x, n.y, n.label, ha="center", va="center", fontsize=6, color=text_color,
                    zorder=3)
    return fig


# ---------------------------------------------------------------------------- entry point

def render(graph: CausalGraph, out: str | os.PathLike, *, cls: int | None = None,
           top: int = DEFAULT_TOP, color_by: str = "category", fmt: str | None = None,
           only_class: bool = False) -> Path:
    """Draw ``graph`` to ``out`` and return the path written.

    ``cls`` highlights one class's causal graph (``only_class``: draws only that subgraph);
    ``top`` units per layer are drawn, the rest folded into a "LAYER (+N more)" node;
    ``color_by`` is "category" (critical red, neutral grey, detrimental blue) or "effect" (the
    class effect of ``cls``, or log xi without a class, on a diverging map). ``fmt`` (svg,
    png, pdf, dot, html) defaults to ``out``'s suffix; "html" writes the interactive explorer
    (:func:`viz.html.write_html`). Without Graphviz, svg/png/pdf are drawn with matplotlib.
    """
    fmt = output_format(out, fmt)
    if color_by not in COLOR_BY:
        raise CausalnetInputError(f"unknown color_by {color_by!r}; use one of {', '.join(COLOR_BY)}")
    out = Path(out)
    if fmt == "html":
        from .html import write_html

        return write_html(graph, out, top=top, cls=cls)
    lay = layout(graph, cls=cls, top=top, only_class=only_class)
    if fmt == "dot":
        return atomic_write_text(out, to_pydot(graph, lay, color_by=color_by).to_string())
    if has_graphviz():
        dot = to_pydot(graph, lay, color_by=color_by)
        if fmt == "png":
            dot.set("dpi", str(PNG_DPI))
        return atomic_write_bytes(out, dot.create(prog="dot", format=fmt))
    print(f"notice: Graphviz 'dot' not found on PATH; drawing {out.name} with matplotlib "
          "(install graphviz for the layered Graphviz layout)", file=sys.stderr)
    return save_figure(draw_matplotlib(graph, lay, color_by=color_by), out, fmt, dpi=PNG_DPI)
