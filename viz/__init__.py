"""Pictures of causal graphs, class views, explanations and pruning curves."""

from .html import write_html
from .layout import Layout, layout
from .plots import (
    accuracy_curves,
    faithfulness_curves,
    heatmap,
    kept_units_bars,
    stability_bars,
)
from .render import render

__all__ = ["render", "write_html", "heatmap", "layout", "Layout", "kept_units_bars",
           "accuracy_curves", "stability_bars", "faithfulness_curves", "explanation_figure",
           "attribution_maps"]


def __getattr__(name: str):
    """``explanation_figure`` and ``attribution_maps`` import captum and torch on first use,
    so drawing a graph stays quick."""
    if name in ("explanation_figure", "attribution_maps"):
        from . import explanations

        return getattr(explanations, name)
    raise AttributeError(f"module 'viz' has no attribute {name!r}")
