"""Helpers for the viz tests: a small hand-made graph, the sample graph, Chromium."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from causalnet.graph import CausalGraph

DATA = Path(__file__).parent / "data"
RESNET_GRAPH = DATA / "resnet20_graph.json"

# id, layer, index, xi, category, class effects
UNITS = [
    ("conv1:0", "conv1", 0, 0.40, "critical", {0: -1.2, 1: -0.1}),
    ("conv1:1", "conv1", 1, 1.00, "neutral", {0: -0.02, 1: 0.01}),
    ("conv1:2", "conv1", 2, 1.30, "detrimental", {0: 0.3, 1: 0.2}),
    ("conv1:3", "conv1", 3, 0.98, "neutral", {0: 0.0, 1: -0.01}),
    ("fc1:0", "fc1", 0, 0.50, "critical", {0: -0.8, 1: -0.05}),
    ("fc1:1", "fc1", 1, 0.95, "neutral", {0: -0.01, 1: -0.6}),
]
EDGES = [  # u, v, class, effect
    ("conv1:0", "fc1:0", 0, 0.9),
    ("conv1:1", "fc1:0", 0, 0.2),
    ("fc1:0", "logit:0", 0, 1.5),
    ("conv1:2", "fc1:1", 1, 0.4),
    ("conv1:3", "fc1:1", 1, 0.1),
    ("fc1:1", "logit:1", 1, 0.7),
]


def make_small_graph() -> CausalGraph:
    """Two unit layers (4 conv channels, 2 neurons), 2 classes, every category present."""
    g = CausalGraph(
        model={"spec": "tiny", "fingerprint": "sha256:" + "0" * 64, "num_classes": 2},
        layers=[{"name": "conv1", "kind": "conv_channel", "size": 4, "order": 0,
                 "producers": ["conv1"], "readers": ["fc1"]},
                {"name": "fc1", "kind": "linear_neuron", "size": 2, "order": 1,
                 "producers": ["fc1"], "readers": ["fc2"]}],
        created="2024-01-02")
    for node_id, layer, index, xi, cat, effects in UNITS:
        kind = "conv_channel" if layer == "conv1" else "linear_neuron"
        g.add_unit(node_id, layer=layer, index=index, kind=kind, group=layer,
                   order=0 if layer == "conv1" else 1, xi=xi, xi_ci_low=xi - 0.1,
                   xi_ci_high=xi + 0.1, p_value=0.01, category=cat, class_effects=effects)
    for c in (0, 1):
        g.add_logit(c, order=2)
    for u, v, c, effect in EDGES:
        g.add_edge(u, v, c, effect=effect, rel_effect=effect / 2, z=3.0, p=0.001, mode="edge")
    return g


needs_graphviz = pytest.mark.skipif(shutil.which("dot") is None,
                                    reason="Graphviz 'dot' is not on PATH (make test installs it "
                                           "as root); the matplotlib fallback is tested instead")
needs_chromium = pytest.mark.skipif(shutil.which("chromium") is None,
                                    reason="headless 'chromium' is not on PATH (make test installs "
                                           "it as root with apt-get); cannot run the explorer's "
                                           "JavaScript")


def run_chromium(page: Path, *extra: str) -> subprocess.CompletedProcess:
    """Run headless Chromium on a local page with a fresh profile (no network, no sync)."""
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        return subprocess.run(
            ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={profile}", *extra, page.resolve().as_uri()],
            capture_output=True, text=True, timeout=60, check=False)
