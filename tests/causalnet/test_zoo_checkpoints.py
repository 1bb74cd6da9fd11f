"""End-to-end: every shipped checkpoint clears its accuracy bar on the real MNIST test set."""

import pytest

from causalnet.evaluate import accuracy, count_macs_params
from causalnet.fingerprint import model_fingerprint
from causalnet.zoo import ZOO, load_card, load_zoo_model


@pytest.mark.slow
@pytest.mark.parametrize("name", list(ZOO))
def test_zoo_checkpoint_meets_its_bar(name, mnist_test):
    card = load_card(name)
    assert card is not None, f"{name} has no shipped card"
    model = load_zoo_model(name)
    acc = accuracy(model, mnist_test)
    assert acc >= ZOO[name].min_accuracy, f"{name}: {acc:.4f} < {ZOO[name].min_accuracy}"
    assert abs(acc - card["test_accuracy"]) < 5e-4  # the card tells the truth
    macs, params = count_macs_params(model, (1, 28, 28))
    assert (macs, params) == (card["macs"], card["params"])
    assert model_fingerprint(model) == card["fingerprint"]
