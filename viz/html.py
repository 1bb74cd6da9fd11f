"""A self-contained interactive HTML explorer of a causal graph (one file, no network).

The layout (:func:`viz.layout.layout`, positions computed here in Python) and every drawn node's
and edge's data are embedded as JSON; a small inline vanilla-JavaScript viewer (no library, no
CDN, so the file works offline and from an e-mail attachment) draws them as SVG and adds:
pan (drag) and zoom (wheel) through the SVG viewBox, a class selector that highlights the
class's causal graph and dims the rest, category filters, colouring by category or by the
selected class's effect, and a tooltip with each node's statistics on hover.

Every drawn graph node (unit or logit) is an SVG element with ``data-node="<node id>"``;
"LAYER (+N more)" summary nodes carry ``data-summary`` instead. The element ``#node-count``
shows how many graph nodes were drawn.
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from typing import Any

from causalnet.fileio import atomic_write_text
from causalnet.graph import CATEGORIES, CausalGraph

from .layout import DEFAULT_TOP, SUMMARY, Layout, check_class, layout
from .style import CATEGORY_COLORS, LOGIT_COLOR, SUMMARY_COLOR, edge_width, node_size

RANK_PX = 55.0       # pixels per layout x unit (ranks are RANK_GAP = 3 units apart)
ROW_PX = 44.0        # pixels per row
MARGIN = 40.0
HEADER_PX = 46.0     # room above the first row for the layer names
MAX_HIDDEN_LISTED = 24


def _json_for_script(obj: Any) -> str:
    """JSON that cannot end its <script> element early (``<``, ``>``, ``&`` escaped)."""
    text = json.dumps(obj, sort_keys=True, allow_nan=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def explorer_data(graph: CausalGraph, lay: Layout) -> dict[str, Any]:
    """The JSON the explorer draws: pixel positions, colours, sizes and statistics."""
    xmin, ymin, _, _ = lay.bounds()
    max_e, max_w = lay.max_abs_effect(), lay.max_abs_edge_effect()

    def px(n) -> tuple[float, float]:
        return (round(MARGIN + (n.x - xmin) * RANK_PX, 1),
                round(MARGIN + HEADER_PX + (n.y - ymin) * ROW_PX, 1))

    nodes = []
    for n in lay.nodes:
        x, y = px(n)
        item: dict[str, Any] = {
            "id": n.id, "label": n.label, "kind": n.kind, "layer": n.layer, "x": x, "y": y,
            "category": n.category, "effect": n.effect, "classes": n.classes,
            "r": round(node_size(n, max_e) * 36 * 0.9, 1),
        }
        if n.kind == SUMMARY:
            item.update(fill=SUMMARY_COLOR, hidden=len(n.hidden),
                        hidden_ids=n.hidden[:MAX_HIDDEN_LISTED])
        else:
            item.update(fill=LOGIT_COLOR if n.kind == "logit" else
                        CATEGORY_COLORS.get(n.category, CATEGORY_COLORS[None]), stats=n.attrs)
        nodes.append(item)
    edges = [{"s": e.source, "t": e.target, "w": round(edge_width(e.effect, max_w), 2),
              "effect": e.effect, "merged": e.merged,
              "classes": {str(c): v for c, v in e.classes.items()}} for e in lay.edges]
    ranks = []
    for rank, name in enumerate(lay.ranks):
        xs = [n.x for n in lay.nodes if n.rank == rank]
        if xs:
            ranks.append({"name": name, "x": round(MARGIN + (xs[0] - xmin) * RANK_PX, 1),
                          "y": MARGIN + HEADER_PX / 3})
    return {"nodes": nodes, "edges": edges, "ranks": ranks, "classes": graph.classes(),
            "total_nodes": graph.nx.number_of_nodes(), "collapsed": lay.collapsed,
            "category_colors": {str(k): v for k, v in CATEGORY_COLORS.items()},
            "max_edge_width": max((e["w"] for e in edges), default=1.0)}


def write_html(graph: CausalGraph, out: str | os.PathLike, *, top: int = DEFAULT_TOP,
               cls: int | None = None, title: str | None = None) -> Path:
    """Write the interactive explorer of ``graph`` to ``out`` (one self-contained HTML file).

    ``top`` units per layer are drawn (the rest folded into "LAYER (+N more)" nodes, as in
    :func:`viz.render.render`); ``cls`` preselects a class in the class menu and draws its
    units first in collapsed layers. Returns the path.
    """
    cls = check_class(graph, cls)
    lay = layout(graph, cls=cls, top=top)
    data = explorer_data(graph, lay)
    spec = (graph.nx.graph.get("model") or {}).get("spec") or "model"
    title = title or f"{spec}: causal graph"
    options = ['<option value="">all classes</option>'] + [
        f'<option value="{c}"{" selected" if c == cls else ""}>class {c}</option>'
        for c in graph.classes()]
    filters = []
    for cat in (*CATEGORIES, None):
        name = cat or "uncategorised"
        filters.append(
            f'<label><input type="checkbox" class="category-filter" value="{name}" checked>'
            f'<span class="sw" style="background:{CATEGORY_COLORS[cat]}"></span>{name}</label>')
    collapsed = sum(lay.collapsed.values())
    page = _PAGE.format(
        title=html.escape(title), class_options="".join(options), filters=" ".join(filters),
        total=graph.nx.number_of_nodes(), collapsed=collapsed, top=lay.top,
        data=_json_for_script(data), script=_SCRIPT, style=_STYLE)
    return atomic_write_text(out, page)


_STYLE = """
body{margin:0;font:13px system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;color:#222;
 display:flex;flex-direction:column;height:100vh}
header{padding:6px 12px;border-bottom:1px solid #ddd;display:flex;flex-wrap:wrap;gap:6px 16px;
 align-items:center;background:#fafafa}
header h1{font-size:15px;margin:0 6px 0 0}
header label{white-space:nowrap}
#canvas{flex:1;position:relative;overflow:hidden;min-height:300px}
#graph{width:100%;height:100%;display:block;cursor:grab;background:#fff;user-select:none}
#graph.dragging{cursor:grabbing}
.node{cursor:pointer}
.node text{pointer-events:none;font-size:9px}
.node.dim,.edge.dim{opacity:.13}
.node.filtered,.edge.filtered{display:none}
.node.hover>circle,.node.hover>rect{stroke:#000;stroke-width:2.5px}
.rank-label{font-size:12px;fill:#444;text-anchor:middle}
.sw{display:inline-block;width:11px;height:11px;border-radius:50%;border:1px solid #555;
 vertical-align:middle;margin:0 3px}
#tooltip{position:absolute;pointer-events:none;background:rgba(255,255,255,.97);border:1px solid #888;
 border-radius:4px;padding:6px 8px;font-size:12px;box-shadow:0 2px 8px rgba(0,0,0,.25);display:none;
 max-width:420px;z-index:2}
#tooltip th{text-align:left;padding-right:8px;font-weight:600;vertical-align:top}
#tooltip td{word-break:break-word}
#hint{position:absolute;right:10px;bottom:8px;color:#888;font-size:11px}
"""

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{style}</style>
</head>
<body>
<header>
<h1>{title}</h1>
<label>class <select id="class-select">{class_options}</select></label>
<label>colour <select id="color-select"><option value="category">category</option>
<option value="effect">effect (selected class)</option></select></label>
<span id="category-filters">{filters}</span>
<button id="reset-view" type="button">reset view</button>
<span><b id="node-count">0</b> of {total} graph nodes drawn (top {top} per layer;
{collapsed} more in "+N more" nodes)</span>
</header>
<div id="canvas">
<svg id="graph" role="img" aria-label="causal graph"></svg>
<div id="tooltip"></div>
<div id="hint">drag to pan, wheel to zoom, hover a node for its statistics</div>
</div>
<script id="graph-data" type="application/json">{data}</script>
<script>{script}</script>
</body>
</html>
"""

# The explorer. Plain ES2015 so any current browser runs it from a local file.
_SCRIPT = r"""
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("graph-data").textContent);
  var NS = "http://www.w3.org/2000/svg";
  var svg = document.getElementById("graph");
  var tooltip = document.getElementById("tooltip");
  var canvas = document.getElementById("canvas");
  var byId = {};

  function el(tag, attrs, parent) {
    var e = document.createElementNS(NS, tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (parent) parent.appendChild(e);
    return e;
  }
  function fmt(x) {
    if (x === null || x === undefined || !isFinite(x)) return "n/a";
    var a = Math.abs(x);
    return (a !== 0 && (a < 1e-3 || a >= 1e4)) ? x.toExponential(2) : String(+x.toPrecision(3));
  }

  var scene = el("g", {id: "scene"}, svg);
  var rankLayer = el("g", {"class": "ranks"}, scene);
  var edgeLayer = el("g", {"class": "edges"}, scene);
  var nodeLayer = el("g", {"class": "nodes"}, scene);

  data.ranks.forEach(function (r) {
    var t = el("text", {"class": "rank-label", x: r.x, y: r.y}, rankLayer);
    t.textContent = r.name;
  });
  data.nodes.forEach(function (n) { byId[n.id] = n; n.edges = []; });

  // --- edges: horizontal cubic curves from the right of the source to the left of the target
  data.edges.forEach(function (e) {
    var a = byId[e.s], b = byId[e.t];
    var x1 = a.x + halfWidth(a), x2 = b.x - halfWidth(b), mx = (x1 + x2) / 2;
    e.el = el("path", {"class": "edge", fill: "none", stroke: "#777", "stroke-width": e.w,
                       d: "M" + x1 + "," + a.y + " C" + mx + "," + a.y + " " + mx + "," + b.y +
                          " " + x2 + "," + b.y}, edgeLayer);
    a.edges.push(e); b.edges.push(e);
  });

  function halfWidth(n) {
    if (n.kind === "unit") return n.r;
    return n.kind === "logit" ? 30 : Math.max(30, (n.label.lastIndexOf(" (+") + 1) * 2.9 + 8);
  }

  // --- nodes
  data.nodes.forEach(function (n) {
    var g = el("g", {"class": "node", transform: "translate(" + n.x + "," + n.y + ")"}, nodeLayer);
    if (n.kind === "summary") g.setAttribute("data-summary", n.layer);
    else g.setAttribute("data-node", n.id);
    var shape;
    if (n.kind === "unit") {
      shape = el("circle", {r: n.r, stroke: "#333", "stroke-width": 1}, g);
    } else {
      var w = 2 * halfWidth(n);
      var h = n.kind === "summary" ? 30 : 24;
      shape = el("rect", {x: -w / 2, y: -h / 2, width: w, height: h, rx: 7, stroke: "#555",
                          "stroke-width": 1, "stroke-dasharray": n.kind === "summary" ? "4 3" : ""}, g);
    }
    var label = el("text", {"text-anchor": "middle", dy: "0.35em"}, g);
    if (n.kind === "summary") {   // "LAYER" over "(+N more)", so columns can sit closer
      var cut = n.label.lastIndexOf(" (+");
      el("tspan", {x: 0, dy: "-0.25em"}, label).textContent = n.label.slice(0, cut);
      el("tspan", {x: 0, dy: "1.15em"}, label).textContent = n.label.slice(cut + 1);
    } else {
      label.textContent = n.label;
    }
    n.el = g; n.shape = shape; n.text = label;
    g.addEventListener("mouseenter", function (ev) { showTip(n, ev); g.classList.add("hover"); });
    g.addEventListener("mousemove", moveTip);
    g.addEventListener("mouseleave", function () { tooltip.style.display = "none"; g.classList.remove("hover"); });
  });
  document.getElementById("node-count").textContent =
    String(nodeLayer.querySelectorAll("[data-node]").length);

  // --- colours, class highlighting and category filters
  var classSelect = document.getElementById("class-select");
  var colorSelect = document.getElementById("color-select");
  function selectedClass() { return classSelect.value === "" ? null : Number(classSelect.value); }
  function nodeEffect(n, c) {
    if (c === null) return n.effect;
    var ce = n.stats && n.stats.class_effects;
    return ce && ce[c] !== undefined ? ce[c] : null;
  }
  function diverging(t) {           // -1 red ... 0 white ... +1 blue (negative supports the class)
    t = Math.max(-1, Math.min(1, t));
    var end = t < 0 ? [178, 24, 43] : [33, 102, 172], s = Math.abs(t);
    return "rgb(" + end.map(function (v) { return Math.round(255 + (v - 255) * s); }).join(",") + ")";
  }
  function update() {
    var c = selectedClass(), byEffect = colorSelect.value === "effect";
    var shown = {};
    document.querySelectorAll(".category-filter").forEach(function (box) { shown[box.value] = box.checked; });
    var maxEffect = 0;
    data.nodes.forEach(function (n) {
      var e = nodeEffect(n, c);
      if (n.kind === "unit" && e !== null && isFinite(e)) maxEffect = Math.max(maxEffect, Math.abs(e));
    });
    data.nodes.forEach(function (n) {
      var inClass = c === null || n.classes.indexOf(c) >= 0;
      var filtered = n.kind === "unit" && !shown[n.category || "uncategorised"];
      n.filtered = filtered;
      n.el.classList.toggle("filtered", filtered);
      n.el.classList.toggle("dim", !inClass);
      var fill = n.fill;
      if (byEffect && n.kind === "unit") {
        var e = nodeEffect(n, c);
        fill = (e === null || !maxEffect) ? "#ffffff"
          : diverging(Math.sign(e) * Math.sqrt(Math.abs(e) / maxEffect));  // as render.py
      }
      n.shape.setAttribute("fill", fill);
      n.shape.setAttribute("stroke-width", c !== null && inClass ? 2 : 1);
      n.text.setAttribute("fill", !byEffect && n.category === "critical" && n.kind === "unit" ? "#fff" : "#111");
    });
    var maxClassEdge = 0;
    if (c !== null) data.edges.forEach(function (e) {
      var v = e.classes[String(c)];
      if (v !== undefined && v !== null) maxClassEdge = Math.max(maxClassEdge, Math.abs(v));
    });
    data.edges.forEach(function (e) {
      var inClass = c === null || e.classes[String(c)] !== undefined;
      var width = e.w;
      if (c !== null && inClass && maxClassEdge > 0 && e.classes[String(c)] !== null) {
        width = 0.5 + 3.5 * Math.abs(e.classes[String(c)]) / maxClassEdge;
      }
      e.el.setAttribute("stroke-width", width);
      e.el.setAttribute("stroke", c !== null && inClass ? "#222" : "#777");
      e.el.classList.toggle("dim", !inClass);
      e.el.classList.toggle("filtered", byId[e.s].filtered || byId[e.t].filtered);
    });
  }
  classSelect.addEventListener("change", update);
  colorSelect.addEventListener("change", update);
  document.querySelectorAll(".category-filter").forEach(function (box) { box.addEventListener("change", update); });

  // --- tooltip
  function row(table, key, value) {
    var tr = document.createElement("tr");
    var th = document.createElement("th"); th.textContent = key;
    var td = document.createElement("td"); td.textContent = value;
    tr.appendChild(th); tr.appendChild(td); table.appendChild(tr);
  }
  function showTip(n, ev) {
    tooltip.textContent = "";
    var table = document.createElement("table");
    if (n.kind === "summary") {
      row(table, "layer", n.layer);
      row(table, "not drawn", n.hidden + " units");
      row(table, "classes", n.classes.length ? n.classes.join(", ") : "none");
      row(table, "units", n.hidden_ids.join(", ") + (n.hidden > n.hidden_ids.length ? ", ..." : ""));
    } else {
      var s = n.stats;
      row(table, "id", n.id);
      row(table, "layer", s.layer);
      row(table, "kind", s.kind);
      if (n.kind === "unit") {
        row(table, "xi", fmt(s.xi));
        row(table, "CI", "[" + fmt(s.xi_ci_low) + ", " + fmt(s.xi_ci_high) + "]");
        row(table, "p", fmt(s.p_value));
        row(table, "category", s.category || "uncategorised");
        var ce = Object.keys(s.class_effects || {}).map(function (k) {
          return k + ": " + fmt(s.class_effects[k]);
        });
        row(table, "class effects", ce.length ? ce.join(", ") : "none");
      }
      row(table, "classes", s.classes.length ? s.classes.join(", ") : "none");
      var deg = n.edges.filter(function (e) { return e.t === n.id; }).length;
      row(table, "drawn edges", deg + " in, " + (n.edges.length - deg) + " out");
    }
    tooltip.appendChild(table);
    tooltip.style.display = "block";
    moveTip(ev);
  }
  function moveTip(ev) {
    var box = canvas.getBoundingClientRect();
    var x = ev.clientX - box.left + 14, y = ev.clientY - box.top + 14;
    if (x + tooltip.offsetWidth > box.width) x = Math.max(0, x - tooltip.offsetWidth - 28);
    if (y + tooltip.offsetHeight > box.height) y = Math.max(0, y - tooltip.offsetHeight - 28);
    tooltip.style.left = x + "px"; tooltip.style.top = y + "px";
  }

  // --- pan and zoom through the viewBox
  var xs = data.nodes.map(function (n) { return n.x; }), ys = data.nodes.map(function (n) { return n.y; });
  var home = {x: 0, y: 0, w: 100, h: 100};
  if (xs.length) {
    home = {x: Math.min.apply(null, xs) - 110, y: Math.min.apply(null, ys) - 70,
            w: Math.max.apply(null, xs) - Math.min.apply(null, xs) + 220,
            h: Math.max.apply(null, ys) - Math.min.apply(null, ys) + 110};
  }
  var vb = {};
  function setView(v) { vb = {x: v.x, y: v.y, w: v.w, h: v.h}; svg.setAttribute("viewBox", [vb.x, vb.y, vb.w, vb.h].join(" ")); }
  setView(home);
  function toSvg(ev) {            // client pixel -> viewBox coordinates (preserveAspectRatio meet)
    var box = svg.getBoundingClientRect();
    var scale = Math.max(vb.w / box.width, vb.h / box.height);
    var ox = (box.width * scale - vb.w) / 2, oy = (box.height * scale - vb.h) / 2;
    return {x: vb.x - ox + (ev.clientX - box.left) * scale, y: vb.y - oy + (ev.clientY - box.top) * scale, scale: scale};
  }
  var drag = null;
  svg.addEventListener("mousedown", function (ev) {
    if (ev.button !== 0) return;
    drag = {x: ev.clientX, y: ev.clientY, view: {x: vb.x, y: vb.y, w: vb.w, h: vb.h}, scale: toSvg(ev).scale};
    svg.classList.add("dragging");
    ev.preventDefault();
  });
  window.addEventListener("mousemove", function (ev) {
    if (!drag) return;
    setView({x: drag.view.x - (ev.clientX - drag.x) * drag.scale, y: drag.view.y - (ev.clientY - drag.y) * drag.scale,
             w: drag.view.w, h: drag.view.h});
  });
  window.addEventListener("mouseup", function () { drag = null; svg.classList.remove("dragging"); });
  svg.addEventListener("wheel", function (ev) {
    ev.preventDefault();
    var p = toSvg(ev), f = Math.pow(1.0015, ev.deltaY);
    var w = Math.min(home.w * 20, Math.max(home.w / 40, vb.w * f)), k = w / vb.w;
    setView({x: p.x - (p.x - vb.x) * k, y: p.y - (p.y - vb.y) * k, w: vb.w * k, h: vb.h * k});
  }, {passive: false});
  document.getElementById("reset-view").addEventListener("click", function () { setView(home); });

  update();
})();
"""
