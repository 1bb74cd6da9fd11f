"""Colour-biased MNIST: the recipe's promises (95% aligned in train, random at test, seeded), its
specs, and the planted-flaw checkpoint's card."""

from __future__ import annotations

import pytest
import torch

from causalnet.data import load_data
from causalnet.data.biased import (
    COLOURS,
    PATCH,
    TRAIN_SIZE,
    colour_digits,
    draw_colours,
    load_biased_mnist,
)
from causalnet.errors import SpecError


def test_train_colours_match_labels_95_percent_and_test_colours_are_random():
    y = torch.arange(10).repeat(6000)
    train = draw_colours(y, "train")
    assert abs((train == y).float().mean().item() - 0.95) < 0.005
    assert torch.equal(train, draw_colours(y, "train"))                      # seeded
    test = draw_colours(y, "test")
    assert abs((test == y).float().mean().item() - 0.10) < 0.01
    # at test time the colour says nothing about the label: every colour appears for every class
    counts = torch.zeros(10, 10)
    counts.index_put_((y, test), torch.ones(len(y)), accumulate=True)
    assert counts.min() > 0.08 * 600


def test_digits_are_grey_with_a_coloured_corner_patch():
    gray = torch.zeros(2, 1, 10, 10)
    gray[:, :, 6, 6] = 1.0
    x = colour_digits(gray, torch.tensor([0, 3]))
    background = x[0, 0, 9, 9]
    lit = x[:, :, 6, 6]
    assert torch.allclose(lit, lit[:, :1].expand(2, 3)) and (lit > background).all()   # grey strokes
    patch = x[:, :, :PATCH, :PATCH] - background
    assert torch.allclose(patch / patch.amax(dim=(1, 2, 3), keepdim=True),
                          COLOURS[[0, 3]][:, :, None, None].expand(2, 3, PATCH, PATCH))
    assert torch.all(x[:, :, PATCH:6] == background)   # nothing else is painted


def test_specs_select_splits_and_groups():
    b = load_data("biased_mnist")
    assert len(b.fit) == TRAIN_SIZE and len(b.eval) == 10_000 and b.input_shape == (3, 28, 28)
    assert b.fit.aligned.float().mean() > 0.94 and b.eval.aligned.float().mean() < 0.12
    clean = load_data("biased_mnist:clean?per_class=20")
    assert len(clean.fit) == 200 and torch.bincount(clean.fit.targets).tolist() == [20] * 10
    assert clean.fit.name.startswith("biased_mnist:val") and len(clean.eval) == 10_000
    conf = load_data("biased_mnist:test?bias=conflicting")
    assert not conf.eval.aligned.any() and len(conf.eval) == int((~b.eval.aligned).sum())
    sub = conf.eval.subset([0, 1, 2])
    assert torch.equal(sub.colours, conf.eval.colours[:3]) and set(sub.subgroups) == {"aligned", "conflicting"}
    with pytest.raises(SpecError, match="bias=aligned or bias=conflicting"):
        load_data("biased_mnist?bias=red")
    with pytest.raises(SpecError, match="unknown split"):
        load_data("biased_mnist:dev")
    with pytest.raises(SpecError, match="allowed"):
        load_data("biased_mnist?colour=1")


def test_val_split_is_disjoint_from_training_images():
    train, val = load_biased_mnist("train"), load_biased_mnist("val")
    assert len(train) + len(val) == 60_000
    # the last training image and the first validation image are different MNIST images
    assert not torch.equal(train.images[-1].sum(0), val.images[0].sum(0))


@pytest.mark.slow
def test_planted_flaw_checkpoint_card_tells_the_truth():
    """The shipped zoo:resnet20_biased learned the shortcut: near-perfect on aligned test images,
    far worse on conflicting ones; the card's numbers are what it measures."""
    from causalnet.evaluate import accuracy
    from causalnet.fingerprint import model_fingerprint
    from causalnet.zoo import load_card, load_zoo_model

    card = load_card("resnet20_biased")
    model = load_zoo_model("resnet20_biased")
    assert model_fingerprint(model) == card["fingerprint"]
    test = load_biased_mnist("test")
    groups = {g: accuracy(model, test.subset(torch.nonzero(m)[:, 0])) for g, m in test.subgroups.items()}
    for g, acc in groups.items():
        assert abs(acc - card["subgroup_accuracy"][g]) < 5e-4
    assert groups["aligned"] > 0.97
    assert groups["conflicting"] < groups["aligned"] - 0.3
