import json

import pytest
import torch
from torch import nn

from causalnet.fileio import atomic_write, atomic_write_json
from causalnet.fingerprint import model_fingerprint


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    target = tmp_path / "g.json"
    atomic_write_json(target, {"a": 1})

    def broken(tmp):
        tmp.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        atomic_write(target, broken)
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["g.json"]


def test_atomic_json_is_byte_stable(tmp_path):
    atomic_write_json(tmp_path / "a.json", {"b": 1, "a": [1.5, 2]})
    atomic_write_json(tmp_path / "b.json", {"a": [1.5, 2], "b": 1})
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()


def test_fingerprint_tracks_weights_not_layout():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4))
    fp = model_fingerprint(m)
    assert fp.startswith("sha256:") and len(fp) == 7 + 64
    m.to(memory_format=torch.channels_last)
    assert model_fingerprint(m) == fp
    with torch.no_grad():
        m[0].weight[0, 0, 0, 0] += 1e-3
    assert model_fingerprint(m) != fp
