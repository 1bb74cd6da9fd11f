import numpy as np
import pytest
import torch
from PIL import Image

from causalnet.data import class_balanced_indices, load_data
from causalnet.errors import CausalnetInputError, SpecError
from causalnet.specs import parse_spec


def test_parse_spec_parts():
    s = parse_spec("torchvision:resnet18?num_classes=10&x@w/weights.pth")
    assert (s.kind, s.body, s.path) == ("torchvision", "resnet18", "w/weights.pth")
    assert s.options == {"num_classes": "10", "x": "1"}
    assert parse_spec("mnist:test", allow_path=False).body == "test"
    with pytest.raises(SpecError, match="empty"):
        parse_spec("  ")
    with pytest.raises(SpecError, match="names no file"):
        parse_spec("zoo:resnet20@")


def test_mnist_splits_are_full_and_normalised():
    data = load_data("mnist")
    assert len(data.fit) == 60_000 and len(data.eval) == 10_000
    assert data.input_shape == (1, 28, 28) and data.num_classes == 10
    x = data.fit.images
    assert abs(float(x.mean())) < 0.01 and abs(float(x.std()) - 1.0) < 0.01
    # every class is present in a realistic share
    counts = torch.bincount(data.eval.targets, minlength=10)
    assert counts.min() > 800
    test_only = load_data("mnist:test")
    assert test_only.fit is test_only.eval


def test_digits_split_is_disjoint_and_complete():
    train, test = load_data("digits:train").fit, load_data("digits:test").fit
    assert len(train) + len(test) == 1797
    assert train.input_shape == (1, 8, 8)
    rows = {tuple(r) for r in train.images.flatten(1).numpy().round(4).tolist()}
    overlap = sum(tuple(r) in rows for r in test.images.flatten(1).numpy().round(4).tolist())
    assert overlap < 10  # the raw set has a handful of exact duplicate images, no more


def test_folder_loader(tmp_path):
    rng = np.random.default_rng(0)
    for cls in ("cat", "dog"):
        (tmp_path / cls).mkdir()
        for i in range(3):
            Image.fromarray(rng.integers(0, 255, (40, 30, 3), dtype=np.uint8)).save(tmp_path / cls / f"{i}.png")
    data = load_data(f"folder:{tmp_path}?size=32&channels=1")
    assert data.classes == ["cat", "dog"] and len(data.eval) == 6
    assert data.input_shape == (1, 32, 32)
    with pytest.raises(CausalnetInputError, match="does not exist"):
        load_data(f"folder:{tmp_path / 'nope'}")
    with pytest.raises(SpecError, match="unknown option"):
        load_data(f"folder:{tmp_path}?colour=1")


def test_unknown_dataset_names_the_choices():
    with pytest.raises(SpecError, match="mnist"):
        load_data("cifar10")
    with pytest.raises(SpecError, match=":train or :test"):
        load_data("mnist:validation")


def test_class_balanced_sampler_is_seeded_and_balanced():
    targets = torch.arange(10).repeat_interleave(50)
    a = class_balanced_indices(targets, 7, seed=3)
    b = class_balanced_indices(targets, 7, seed=3)
    c = class_balanced_indices(targets, 7, seed=4)
    assert a == b and a != c
    assert torch.bincount(targets[a], minlength=10).tolist() == [7] * 10
    assert len(set(a)) == len(a)
    assert set(targets[class_balanced_indices(targets, 5, classes=[2, 7])].tolist()) == {2, 7}
    with pytest.raises(CausalnetInputError, match="fewer"):
        class_balanced_indices(targets, 51)
    with pytest.raises(CausalnetInputError, match="no samples"):
        class_balanced_indices(targets, 1, classes=[11])
