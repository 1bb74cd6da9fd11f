"""End-to-end: every shipped checkpoint clears its accuracy bar on its real test set (MNIST or
Fashion-MNIST)."""

import pytest

from causalnet.data import load_data
from causalnet.data.fashion import FASHION_ROOT
from causalnet.evaluate import accuracy, count_macs_params
from causalnet.fingerprint import model_fingerprint
from causalnet.zoo import FASHION, ZOO, load_card, load_zoo_model, zoo_names


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


FASHION_SHIPPED = zoo_names("fashion", trained=True)


@pytest.mark.slow
@pytest.mark.skipif(not FASHION_ROOT.is_dir(), reason="dataset-fashion-mnist not installed "
                    "(make test installs it with apt when run as root)")
@pytest.mark.parametrize("name", FASHION_SHIPPED)
def test_fashion_checkpoint_meets_its_bar(name):
    card = load_card(name)
    assert card is not None and card["recipe"]["dataset"] == "fashion"
    model = load_zoo_model(name)
    acc = accuracy(model, load_data("fashion:test").eval)
    assert acc >= FASHION[name].min_accuracy, f"{name}: {acc:.4f} < {FASHION[name].min_accuracy}"
    assert abs(acc - card["test_accuracy"]) < 5e-4
    assert model_fingerprint(model) == card["fingerprint"]


def test_every_fashion_entry_is_known_to_the_zoo_and_listed_when_trained():
    assert set(FASHION) == {"fashion_lenet5", "fashion_resnet20", "fashion_resnet56",
                            "fashion_vgg11_bn", "fashion_mobilenetv2", "fashion_vit_tiny"}
    assert set(FASHION_SHIPPED) <= set(FASHION)
    assert set(zoo_names("mnist")) == set(ZOO)
