"""Distributed builds on torch.distributed (gloo, 2 CPU ranks under torchrun): the graph file is
byte-identical to a single-process build, and a resumed build reuses what any rank finished."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from causalnet.checkpoint import BuildCheckpoint, rank_path
from causalnet.cli import main
from causalnet.distributed import Shard, blocks

from .rank_failure import ENV

ARGS = ["--data", "mnist", "--classes", "0,1,2", "--samples", "20", "--calibration", "4", "-q"]
ROOT = Path(__file__).resolve().parents[2]


def _torchrun(model: str, out: Path, *, extra_env: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), **(extra_env or {})}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
           "--standalone", "-m", "causalnet", "build", "--model", model, *ARGS,
           "--out", str(out)]
    return subprocess.run(cmd, env=env, cwd=out.parent, capture_output=True, text=True, timeout=600)


def test_shard_takes_every_nth_item_and_blocks_do_not_depend_on_it():
    assert Shard(1, 3).mine(list(range(8))) == [1, 4, 7]
    assert Shard().mine([5, 6]) == [5, 6] and Shard().gather("x") == ["x"]
    assert blocks(range(70), 32) == [list(range(32)), list(range(32, 64)), list(range(64, 70))]


def test_checkpoint_reads_every_ranks_file(tmp_path):
    path = tmp_path / "g.json.ckpt.json"
    assert rank_path(path, 1).name == "g.json.ckpt.rank1.json"
    BuildCheckpoint(path, "k", rank=1).put("blocks", "fc1#0", [[0.5, -1.0]])
    BuildCheckpoint(path, "other", rank=2).put("blocks", "fc1#1", [[0.1, 0.2]])   # another build
    ckpt = BuildCheckpoint(path, "k")
    assert ckpt.resumed
    assert ckpt.get("blocks", "fc1#0", lambda e: True) == [[0.5, -1.0]]
    assert ckpt.get("blocks", "fc1#1", lambda e: True) is None
    ckpt.discard()
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_two_rank_build_is_byte_identical_and_resumes_from_any_rank(tmp_path, monkeypatch):
    """End to end, a few seconds a build: LeNet-5 on 3 MNIST classes, exact interventions."""
    monkeypatch.chdir(tmp_path)
    one = tmp_path / "one.json"
    assert main(["build", "--model", "zoo:lenet5", *ARGS, "--out", str(one)]) == 0

    two = tmp_path / "two.json"
    run = _torchrun("zoo:lenet5", two)
    assert run.returncode == 0, run.stderr[-3000:]
    assert two.read_bytes() == one.read_bytes()
    assert not list(tmp_path.glob("two.json.ckpt*")), "every rank's checkpoint is deleted"

    # rank 1 dies once it has checkpointed a step; its finished share is on disk, the graph is not
    spec = "tests.causalnet.rank_failure:lenet5"
    three = tmp_path / "three.json"
    rank1 = tmp_path / "three.json.ckpt.rank1.json"
    run = _torchrun(spec, three, extra_env={ENV: str(rank1)})
    assert run.returncode != 0 and not three.exists()
    saved = json.loads(rank1.read_text())
    finished = len(saved["blocks"]) + len(saved["global"]) + len(saved["classes"])
    assert finished > 0, "rank 1 had finished work before it failed"
    # a single process resumes, reusing rank 1's share, and writes the same file
    from causalnet.builder import BuildSettings, GraphBuilder
    from causalnet.data import load_data
    from causalnet.models import load_model

    settings = BuildSettings(classes=[0, 1, 2], samples_per_class=20, calibration_per_class=4)
    builder = GraphBuilder(load_model(spec), settings, checkpoint=tmp_path / "three.json.ckpt.json")
    builder.build(load_data("mnist"), model_spec=spec, out=three)
    assert builder.reused >= finished
    a, b = json.loads(three.read_text()), json.loads(one.read_text())
    assert (a["nodes"], a["edges"]) == (b["nodes"], b["edges"])
    assert not rank1.exists()
