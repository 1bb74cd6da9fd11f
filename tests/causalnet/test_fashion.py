"""Fashion-MNIST: the IDX reader, the dataset spec, and clear errors when the files are missing."""

import gzip
import struct

import numpy as np
import pytest
import torch

from causalnet.cli import main
from causalnet.data import load_data
from causalnet.data.fashion import FASHION_ROOT, read_idx
from causalnet.errors import CausalnetInputError, SpecError


def _write_idx(path, array: np.ndarray, *, gz: bool = True):
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    if gz:
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)


def _fake_root(tmp_path, n_train=60000, n_test=10000, gz=True):
    rng = np.random.default_rng(0)
    for stem, n in (("train", n_train), ("t10k", n_test)):
        suffix = ".gz" if gz else ""
        _write_idx(tmp_path / f"{stem}-images-idx3-ubyte{suffix}",
                   rng.integers(0, 256, (n, 28, 28)), gz=gz)
        _write_idx(tmp_path / f"{stem}-labels-idx1-ubyte{suffix}", np.arange(n) % 10, gz=gz)
    return tmp_path


def test_idx_reader_round_trips_gzipped_and_plain(tmp_path):
    a = np.arange(2 * 3 * 4).reshape(2, 3, 4) % 256
    _write_idx(tmp_path / "a.gz", a)
    _write_idx(tmp_path / "b", a, gz=False)
    assert (read_idx(tmp_path / "a.gz") == a).all()
    assert (read_idx(tmp_path / "b") == a).all()


def test_idx_reader_refuses_damaged_files(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04rest")
    with pytest.raises(CausalnetInputError, match="not an IDX file"):
        read_idx(tmp_path / "bad")
    a = np.zeros((4, 5), dtype=np.uint8)
    _write_idx(tmp_path / "short", a, gz=False)
    raw = (tmp_path / "short").read_bytes()
    (tmp_path / "short").write_bytes(raw[:-3])
    with pytest.raises(CausalnetInputError, match="damaged"):
        read_idx(tmp_path / "short")


def test_fashion_spec_with_root_reads_a_copy(tmp_path):
    root = _fake_root(tmp_path, gz=False)
    data = load_data(f"fashion?root={root}")
    assert (len(data.fit), len(data.eval)) == (60000, 10000)
    assert data.input_shape == (1, 28, 28) and data.classes[0] == "T-shirt/top"
    test_only = load_data(f"fashion:test?root={root}")
    assert len(test_only.fit) == len(test_only.eval) == 10000


def test_fashion_with_wrong_sizes_is_refused(tmp_path):
    root = _fake_root(tmp_path, n_train=100, n_test=10)
    with pytest.raises(CausalnetInputError, match=r"expected \(60000, 28, 28\)"):
        load_data(f"fashion:train?root={root}")


def test_missing_fashion_files_exit_2_with_the_apt_command(tmp_path, capsys):
    with pytest.raises(CausalnetInputError, match="apt-get install -y dataset-fashion-mnist"):
        load_data(f"fashion?root={tmp_path}")
    assert main(["eval", "--model", "zoo:lenet5", "--data", f"fashion:test?root={tmp_path}"]) == 2
    err = capsys.readouterr().err
    assert "dataset-fashion-mnist" in err and "Traceback" not in err


@pytest.mark.parametrize("spec", ["mnist?foo=1", "fashion?size=3", "digits?x=1"])
def test_options_that_mean_nothing_are_refused(spec):
    with pytest.raises(SpecError, match="unknown option"):
        load_data(spec)


@pytest.mark.skipif(not FASHION_ROOT.is_dir(), reason="dataset-fashion-mnist not installed "
                    "(make test installs it with apt when run as root)")
def test_real_fashion_mnist_has_the_published_sizes_and_balance():
    data = load_data("fashion")
    assert (len(data.fit), len(data.eval)) == (60000, 10000)
    assert torch.bincount(data.fit.targets).tolist() == [6000] * 10
    assert torch.bincount(data.eval.targets).tolist() == [1000] * 10
    # normalised with the published mean/std: close to zero mean, unit spread on the train split
    assert abs(float(data.fit.images.mean())) < 0.01
    assert abs(float(data.fit.images.std()) - 1) < 0.01
