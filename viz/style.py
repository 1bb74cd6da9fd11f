"""The styling both renderers share (static :mod:`viz.render`, interactive :mod:`viz.html`):
category colours, the effect colormap, node sizes and edge widths. Neither renderer imports the
other for it."""

from __future__ import annotations

from .layout import LayoutNode

# Category colours (fixed, so pictures of different graphs compare at a glance).
CRITICAL_COLOR = "#d62728"
NEUTRAL_COLOR = "#9e9e9e"
DETRIMENTAL_COLOR = "#1f77b4"
UNCATEGORISED_COLOR = "#ffffff"
LOGIT_COLOR = "#ffd54f"
SUMMARY_COLOR = "#f2f2f2"
EDGE_COLOR = "#555555"
HIGHLIGHT_EDGE_COLOR = "#222222"
DIM_EDGE_COLOR = "#d0d0d0"
CATEGORY_COLORS: dict[str | None, str] = {
    "critical": CRITICAL_COLOR, "neutral": NEUTRAL_COLOR, "detrimental": DETRIMENTAL_COLOR,
    None: UNCATEGORISED_COLOR,
}
# Diverging colormap for effects: negative (the unit supports the class) is red like "critical".
EFFECT_CMAP = "RdBu"
DIM_ALPHA = 0.25

# Node sizes (inches) and edge widths (points) are scaled by |effect| / the largest |effect|.
MIN_NODE, MAX_NODE = 0.28, 0.62
MIN_PEN, MAX_PEN = 0.5, 4.0


def node_size(node: LayoutNode, max_effect: float) -> float:
    """Node diameter in inches, growing with |effect|."""
    if node.effect is None:
        return MIN_NODE
    return MIN_NODE + (MAX_NODE - MIN_NODE) * min(1.0, abs(node.effect) / max_effect)


def edge_width(effect: float | None, max_effect: float) -> float:
    """Edge pen width in points, growing with |effect|."""
    if effect is None:
        return MIN_PEN
    return MIN_PEN + (MAX_PEN - MIN_PEN) * min(1.0, abs(effect) / max_effect)
