"""Plots shared by the CLI and the benchmarks: plain lists and dicts in, an image file out.

- :func:`heatmap`: units x classes heatmap of a graph's ``class_effects``.
- :func:`kept_units_bars`: units per layer before and after pruning.
- :func:`accuracy_curves`: accuracy against the fraction of parameters or MACs kept.
- :func:`stability_bars` and :func:`faithfulness_curves`: generic method -> values plots.

The signatures take no causalnet objects except the graph of :func:`heatmap`, so a benchmark
can plot rows it read back from a CSV or JSON file. Every function returns the path written;
the format comes from the suffix (png, svg, pdf) or ``fmt``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from causalnet.errors import CausalnetInputError
from causalnet.graph import CausalGraph

from ._io import save_figure
from .layout import check_class

HEATMAP_CMAP = "RdBu"
MAX_LABELLED_ROWS = 80


def _figure(width: float, height: float):
    """A matplotlib Figure not registered with pyplot (no global state, no GUI backend)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _finite(x) -> float:
    """``x`` as a float, NaN for None (matplotlib leaves NaN cells blank)."""
    return math.nan if x is None else float(x)


def heatmap(graph: CausalGraph, out: str | os.PathLike, *, units: Sequence[str] | None = None,
            classes: Sequence[int] | None = None, top: int | None = None,
            fmt: str | None = None, title: str | None = None) -> Path:
    """Units x classes heatmap of ``class_effects`` (mean log ratio of the class probability
    with the unit off: red = the unit supports the class, blue = it works against it).

    Rows are ``units`` (default: every unit, input to output) or, with ``top``, the ``top``
    units with the largest |class effect| (still in graph order); columns are ``classes``
    (default: the graph's classes, else those found in the effects). With many rows the tick
    labels name layers instead of units.
    """
    import numpy as np
    from matplotlib.colors import SymLogNorm

    rows = list(units) if units is not None else graph.units()
    missing = [u for u in rows if u not in graph]
    if missing:
        raise CausalnetInputError(f"units not in the graph: {missing[:5]}")
    if classes is None:
        classes = graph.classes() or sorted(
            {c for u in rows for c in (graph.node(u).get("class_effects") or {})})
    else:
        classes = [check_class(graph, c) if graph.classes() else int(c) for c in classes]
    if not rows or not classes:
        raise CausalnetInputError("nothing to plot: the graph has no units or no class effects")
    values = np.array([[_finite((graph.node(u).get("class_effects") or {}).get(c)) for c in classes]
                       for u in rows])
    if top is not None:
        if top < 1:
            raise CausalnetInputError(f"top must be at least 1, got {top}")
        strength = np.nan_to_num(np.abs(values), nan=0.0).max(axis=1)
        keep = sorted(np.argsort(-strength, kind="stable")[:top])
        rows, values = [rows[i] for i in keep], values[keep]
    limit = float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 1.0
    limit = limit or 1.0

    labelled = len(rows) <= MAX_LABELLED_ROWS
    height = min(24.0, max(3.0, 0.18 * len(rows) + 1.5)) if labelled else 12.0
    fig = _figure(max(4.0, 0.45 * len(classes) + 3.0), height)
    ax = fig.add_subplot()
    # symmetric log scale: class effects are heavy-tailed (a few units dominate), and a
    # linear scale would leave nearly every cell white
    norm = SymLogNorm(linthresh=min(0.01, limit / 10), vmin=-limit, vmax=limit, base=10)
    image = ax.imshow(values, aspect="auto", cmap=HEATMAP_CMAP, norm=norm, interpolation="nearest")
    ax.set_xticks(range(len(classes)), [str(c) for c in classes])
    ax.set_xlabel("class")
    layers = [graph.node(u)["layer"] for u in rows]
    if labelled:
        ax.set_yticks(range(len(rows)), rows, fontsize=7)
    else:
        starts = [i for i, layer in enumerate(layers) if i == 0 or layers[i - 1] != layer]
        ends = [*starts[1:], len(layers)]
        ax.set_yticks([(a + b - 1) / 2 for a, b in zip(starts, ends, strict=True)],
                      [layers[i] for i in starts], fontsize=7)
        for i in starts[1:]:
            ax.axhline(i - 0.5, color="black", lw=0.4)
    ax.set_ylabel("unit")
    ax.set_title(title or f"class effects of {len(rows)} units (mean log ratio, unit off)",
                 fontsize=10)
    fig.colorbar(image, ax=ax, label="class effect, symlog scale (negative: supports the class)")
    return save_figure(fig, out, fmt)


def kept_units_bars(before: Mapping[str, int], after: Mapping[str, int],
                    out: str | os.PathLike, *, labels: tuple[str, str] = ("before", "after"),
                    fmt: str | None = None, title: str | None = None) -> Path:
    """Grouped bars of units per layer before and after pruning (layers in ``before``'s order;
    a layer missing from ``after`` counts 0, so a removed layer shows as an empty bar)."""
    import numpy as np

    layers = list(before) + [k for k in after if k not in before]
    if not layers:
        raise CausalnetInputError("kept_units_bars needs at least one layer")
    b = np.array([before.get(k, 0) for k in layers], dtype=float)
    a = np.array([after.get(k, 0) for k in layers], dtype=float)
    fig = _figure(max(5.0, 0.55 * len(layers) + 2.0), 4.0)
    ax = fig.add_subplot()
    x = np.arange(len(layers))
    ax.bar(x - 0.2, b, 0.4, label=labels[0], color="#bdbdbd")
    ax.bar(x + 0.2, a, 0.4, label=labels[1], color="#d62728")
    ax.set_xticks(x, layers, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("units")
    ax.legend()
    total_b, total_a = int(b.sum()), int(a.sum())
    ax.set_title(title or f"units per layer: {total_b} -> {total_a} "
                          f"({100 * total_a / max(total_b, 1):.0f}% kept)", fontsize=10)
    return save_figure(fig, out, fmt)


def accuracy_curves(rows: Sequence[Mapping], out: str | os.PathLike, *, x: str = "params_frac",
                    y: str = "accuracy", baseline: float | None = None, fmt: str | None = None,
                    title: str | None = None) -> Path:
    """Accuracy against ``x`` ("params_frac" or "macs_frac": fraction kept), one line per
    ``method``. ``rows`` are dicts with keys method, ``x`` and ``y`` (rows lacking ``x`` are
    skipped); ``baseline`` draws the unpruned model's accuracy as a dashed line."""
    series: dict[str, list[tuple[float, float]]] = {}
    for row in rows:
        if row.get(x) is None or row.get(y) is None:
            continue
        series.setdefault(str(row["method"]), []).append((float(row[x]), float(row[y])))
    if not series:
        raise CausalnetInputError(f"no rows with both {x!r} and {y!r} to plot")
    fig = _figure(6.0, 4.2)
    ax = fig.add_subplot()
    for method, points in series.items():
        points.sort()
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", ms=4, label=method)
    if baseline is not None:
        ax.axhline(baseline, color="black", ls="--", lw=0.8, label="unpruned")
    ax.set_xlabel({"params_frac": "fraction of parameters kept",
                   "macs_frac": "fraction of MACs kept"}.get(x, x))
    ax.set_ylabel(y)
    ax.invert_xaxis()  # left to right: more and more pruned
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title or f"{y} vs {x}", fontsize=10)
    return save_figure(fig, out, fmt)


def stability_bars(values: Mapping[str, Sequence[float] | float], out: str | os.PathLike, *,
                   ylabel: str = "stability", fmt: str | None = None,
                   title: str | None = None) -> Path:
    """One bar per method: the mean of its values, with the standard deviation as error bar
    (a single number is a bar without error)."""
    import numpy as np

    if not values:
        raise CausalnetInputError("stability_bars needs at least one method")
    names = list(values)
    arrays = [np.atleast_1d(np.asarray(values[k], dtype=float)) for k in names]
    means = [float(np.nanmean(v)) if v.size else math.nan for v in arrays]
    errors = [float(np.nanstd(v)) if v.size > 1 else 0.0 for v in arrays]
    fig = _figure(max(4.0, 0.8 * len(names) + 2.0), 4.0)
    ax = fig.add_subplot()
    ax.bar(range(len(names)), means, yerr=errors, capsize=4, color="#1f77b4")
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)
    ax.set_title(title or ylabel, fontsize=10)
    return save_figure(fig, out, fmt)


def faithfulness_curves(curves: Mapping[str, Sequence[float]], out: str | os.PathLike, *,
                        x: Sequence[float] | None = None,
                        xlabel: str = "fraction of input removed",
                        ylabel: str = "class probability", fmt: str | None = None,
                        title: str | None = None) -> Path:
    """One line per method (e.g. deletion/insertion curves); ``x`` defaults to evenly spaced
    fractions from 0 to 1. The legend gives each curve's area (trapezoidal rule)."""
    import numpy as np

    if not curves:
        raise CausalnetInputError("faithfulness_curves needs at least one method")
    fig = _figure(6.0, 4.2)
    ax = fig.add_subplot()
    for method, ys in curves.items():
        ys = np.asarray(ys, dtype=float)
        xs = np.linspace(0.0, 1.0, len(ys)) if x is None else np.asarray(x, dtype=float)
        if len(xs) != len(ys):
            raise CausalnetInputError(f"curve {method!r} has {len(ys)} points but x has {len(xs)}")
        area = float(np.sum((ys[1:] + ys[:-1]) * np.diff(xs)) / 2) if len(ys) > 1 else math.nan
        ax.plot(xs, ys, label=f"{method} (area {area:.3f})")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title or "faithfulness", fontsize=10)
    return save_figure(fig, out, fmt)
