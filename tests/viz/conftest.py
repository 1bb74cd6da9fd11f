"""Fixtures for the viz tests: a small hand-made graph and the ResNet-20 sample graph."""

from __future__ import annotations

import pytest

from causalnet.graph import CausalGraph

from .helpers import RESNET_GRAPH, make_small_graph


@pytest.fixture
def small_graph() -> CausalGraph:
    return make_small_graph()


@pytest.fixture(scope="session")
def resnet_graph() -> CausalGraph:
    return CausalGraph.load(RESNET_GRAPH)
