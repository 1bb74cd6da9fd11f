"""`causalnet zoo train` resumes from its per-epoch state and ends where an uninterrupted run ends."""

import pytest

from causalnet.data import DataBundle
from causalnet.zoo import train as train_mod


@pytest.fixture
def small_mnist(monkeypatch, mnist_test):
    """The recipe's data cut to 512 training and 200 test images, so a run takes seconds."""
    bundle = DataBundle("mnist", mnist_test.subset(range(512)), mnist_test.subset(range(512, 712)))
    monkeypatch.setattr(train_mod, "load_data", lambda spec: bundle)


def test_interrupted_training_resumes_to_the_same_weights(tmp_path, monkeypatch, small_mnist):
    whole = train_mod.train_zoo_model("lenet5", tmp_path / "whole", epochs=2, show_progress=False)
    real_save = train_mod._save_state

    def save_then_die(*args, **kwargs):
        real_save(*args, **kwargs)
        raise KeyboardInterrupt  # killed right after the first epoch's state was written

    monkeypatch.setattr(train_mod, "_save_state", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        train_mod.train_zoo_model("lenet5", tmp_path / "cut", epochs=2, show_progress=False)
    assert (tmp_path / "cut" / "lenet5.train-state.safetensors").is_file()
    assert not (tmp_path / "cut" / "lenet5.json").exists()
    monkeypatch.setattr(train_mod, "_save_state", real_save)
    resumed = train_mod.train_zoo_model("lenet5", tmp_path / "cut", epochs=2, show_progress=False)
    assert resumed["fingerprint"] == whole["fingerprint"]
    assert not (tmp_path / "cut" / "lenet5.train-state.safetensors").exists()
