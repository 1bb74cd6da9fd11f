"""Bounded memory: engines split over images give the numbers of one unsplit engine."""

import pytest
import torch

from causalnet.builder import BuildSettings, GraphBuilder
from causalnet.errors import CausalnetInputError
from causalnet.first_order import first_order_effects
from causalnet.interventions import Ablation, InterventionEngine
from causalnet.memory import (
    SplitEngine,
    bytes_per_image,
    images_per_engine,
    make_engine,
    parse_memory,
)
from causalnet.units import discover_units

from .toy import hand_wired, hand_wired_data, tiny_cnn


def test_sizes_parse_and_bad_ones_say_what_to_write():
    assert parse_memory("8G") == 8 << 30 and parse_memory("512m") == 512 << 20
    assert parse_memory("1.5GiB") == int(1.5 * (1 << 30)) and parse_memory("1000") == 1000
    for bad in ("", "lots", "-1G", "0"):
        with pytest.raises(CausalnetInputError, match="such as 8G"):
            parse_memory(bad)


@pytest.mark.parametrize("mode", ["zero", "mean"])
def test_split_engine_matches_one_engine(mode):
    model = tiny_cnn()
    x = torch.randn(23, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    units = discover_units(model, x[:1])
    one = InterventionEngine(model, units, x, ablation=Ablation(mode))
    split = SplitEngine(model, units, x, per=5, ablation=Ablation(mode))
    assert len(split.slices) == 5
    torch.testing.assert_close(split.clean, one.clean, rtol=1e-5, atol=1e-6)
    for layer in units.layers:
        torch.testing.assert_close(split.ablate(layer, range(layer.size)), one.ablate(layer, range(layer.size)),
                                   rtol=1e-5, atol=1e-6)
        target = lambda lg, rows=slice(None): lg[:, 0]   # noqa: E731
        torch.testing.assert_close(first_order_effects(split, layer, target),
                                   first_order_effects(one, layer, target), rtol=1e-4, atol=1e-5)


def test_budget_sets_images_per_engine_and_other_modes_are_never_split():
    model = tiny_cnn()
    x = torch.randn(10, 1, 8, 8)
    per_image = bytes_per_image(model, x[:1])
    assert images_per_engine(model, x[:1], None) > 10 ** 6
    assert images_per_engine(model, x[:1], int(2 * per_image * 4)) == 4
    assert images_per_engine(model, x[:1], 1) == 1
    units = discover_units(model, x[:1])
    assert isinstance(make_engine(model, units, x, per=4, ablation=Ablation("resample")), InterventionEngine)
    assert isinstance(make_engine(model, units, x, per=4, ablation=Ablation("zero")), SplitEngine)


def test_build_under_a_tiny_budget_keeps_the_same_graph():
    x, y = hand_wired_data(30)
    settings = dict(samples_per_class=20, calibration_per_class=10, intervention="mean")
    free = GraphBuilder(hand_wired(), BuildSettings(**settings)).build((x, y))
    tight = GraphBuilder(hand_wired(), BuildSettings(**settings), max_memory=1)   # one image at a time
    bounded = tight.build((x, y))
    assert tight._per == 1
    assert set(bounded.nx.edges) == set(free.nx.edges)
    for n, attrs in free.nx.nodes(data=True):
        if attrs.get("xi") is not None:
            assert bounded.nx.nodes[n]["xi"] == pytest.approx(attrs["xi"], rel=1e-6)


def test_joint_walk_under_a_tiny_budget_keeps_the_same_graph():
    x, y = hand_wired_data(30)
    settings = dict(samples_per_class=12, calibration_per_class=6, intervention="mean", walk="joint")
    free = GraphBuilder(hand_wired(), BuildSettings(**settings)).build((x, y))
    tight = GraphBuilder(hand_wired(), BuildSettings(**settings), max_memory=1)
    bounded = tight.build((x, y))
    assert tight._per == 1
    assert set(bounded.nx.edges) == set(free.nx.edges) and free.nx.number_of_edges() > 0
    for u, v, attrs in free.nx.edges(data=True):
        for key, value in attrs.items():
            if isinstance(value, float):
                assert bounded.nx.edges[u, v][key] == pytest.approx(value, rel=1e-5, abs=1e-7)
