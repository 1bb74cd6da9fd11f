"""Builds that are killed, resumed, fed other data, bad settings or awkward models (issue 17)."""

from __future__ import annotations

import json
import math
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
from torch import nn

from causalnet.builder import BuildSettings, GraphBuilder, build_graph
from causalnet.checkpoint import BuildCheckpoint
from causalnet.cli import main
from causalnet.errors import CausalnetInputError
from causalnet.graph import CausalGraph

from .toy import hand_wired, hand_wired_data

SETTINGS = dict(samples_per_class=30, calibration_per_class=30)
ROOT = Path(__file__).resolve().parents[2]


def _same(a: CausalGraph, b: CausalGraph) -> bool:
    return (json.dumps(a.nx.graph, sort_keys=True, default=str) == json.dumps(b.nx.graph, sort_keys=True, default=str)
            and dict(a.nx.nodes(data=True)) == dict(b.nx.nodes(data=True))
            and {(u, v): d for u, v, d in a.nx.edges(data=True)} == {(u, v): d for u, v, d in b.nx.edges(data=True)})


def _interrupt_at_class(monkeypatch, cls: int):
    original = GraphBuilder._class_walk

    def flaky(self, units, x, c, *rest):
        if c == cls:
            raise KeyboardInterrupt
        return original(self, units, x, c, *rest)

    monkeypatch.setattr(GraphBuilder, "_class_walk", flaky)
    return original


def test_resume_with_changed_data_recomputes(tmp_path, monkeypatch):
    model = hand_wired()
    ckpt = tmp_path / "g.json.ckpt.json"
    original = _interrupt_at_class(monkeypatch, 1)
    with pytest.raises(KeyboardInterrupt):
        GraphBuilder(model, BuildSettings(**SETTINGS), checkpoint=ckpt).build(hand_wired_data(40, seed=0))
    assert json.loads(ckpt.read_text())["global"]
    monkeypatch.setattr(GraphBuilder, "_class_walk", original)
    other = hand_wired_data(40, seed=1)     # same shapes and "spec", other images
    resumed = GraphBuilder(model, BuildSettings(**SETTINGS), checkpoint=ckpt).build(other)
    fresh = GraphBuilder(model, BuildSettings(**SETTINGS)).build(other)
    stale = GraphBuilder(model, BuildSettings(**SETTINGS)).build(hand_wired_data(40, seed=0))
    assert _same(resumed, fresh) and not _same(resumed, stale)


def test_cli_resume_after_images_replaced_recomputes(tmp_path, mnist_test, monkeypatch):
    """The report's case: folder:DIR, kill after the global effects, replace the images, rerun."""
    from PIL import Image

    def write_images(offset: int):
        for c in (0, 1):
            d = tmp_path / "imgs" / str(c)
            d.mkdir(parents=True, exist_ok=True)
            idx = (torch.as_tensor(mnist_test.targets) == c).nonzero()[offset:offset + 6, 0]
            for k, i in enumerate(idx.tolist()):
                img = mnist_test[i][0][0]
                arr = ((img - img.min()) / (img.max() - img.min() + 1e-8) * 255).to(torch.uint8).numpy()
                Image.fromarray(arr).save(d / f"{k}.png")

    def argv(out):
        return ["build", "--model", "zoo:lenet5", "--data", f"folder:{tmp_path / 'imgs'}?size=28&channels=1",
                "--samples", "3", "--calibration", "3", "--out", str(out), "-q"]

    write_images(0)
    out, ckpt = tmp_path / "g.json", tmp_path / "g.json.ckpt.json"
    original = _interrupt_at_class(monkeypatch, 1)
    assert main(argv(out)) == 130                      # killed after the global effects
    assert json.loads(ckpt.read_text())["global"] and not out.exists()
    monkeypatch.setattr(GraphBuilder, "_class_walk", original)
    write_images(20)                                   # other images, same spec
    assert main(argv(out)) == 0 and not ckpt.exists()
    assert main(argv(tmp_path / "fresh.json")) == 0
    assert _same(CausalGraph.load(out), CausalGraph.load(tmp_path / "fresh.json"))


def test_graph_is_written_before_the_checkpoint_is_deleted(tmp_path, monkeypatch):
    model, data = hand_wired(), hand_wired_data(40)
    ckpt, out = tmp_path / "g.json.ckpt.json", tmp_path / "g.json"

    def failing_save(self, path):
        raise OSError("disk full")

    monkeypatch.setattr(CausalGraph, "save", failing_save)
    with pytest.raises(OSError):
        GraphBuilder(model, BuildSettings(**SETTINGS), checkpoint=ckpt).build(data, out=out)
    assert ckpt.exists() and not out.exists()
    monkeypatch.undo()
    monkeypatch.setattr(GraphBuilder, "_class_walk", lambda *a: pytest.fail("recomputed a saved walk"))
    resumed = GraphBuilder(model, BuildSettings(**SETTINGS), checkpoint=ckpt).build(data, out=out)
    assert out.exists() and not ckpt.exists()
    monkeypatch.undo()
    assert _same(resumed, GraphBuilder(model, BuildSettings(**SETTINGS)).build(data))


@pytest.mark.parametrize("bad", [dict(beta=math.nan), dict(beta=math.inf), dict(alpha=math.nan),
                                 dict(classes=[]), dict(samples_per_class=-3), dict(seed=-1),
                                 dict(screen_margin=math.nan), dict(units_per_forward=0),
                                 dict(class_graphs=False, global_effects=False)])
def test_bad_settings_are_refused_before_work(bad):
    with pytest.raises(CausalnetInputError):
        BuildSettings(**bad).validate()


def test_cli_refuses_nan_beta_and_empty_classes_before_loading(tmp_path, monkeypatch):
    import causalnet.models as models

    monkeypatch.setattr(models, "load_model", lambda *a, **k: pytest.fail("loaded the model first"))
    out = str(tmp_path / "g.json")
    assert main(["build", "--model", "zoo:lenet5", "--data", "digits", "--beta", "nan", "--out", out]) == 2
    assert main(["build", "--model", "zoo:lenet5", "--data", "digits", "--classes", "", "--out", out]) == 2
    assert main(["build", "--model", "zoo:lenet5", "--data", "digits", "--classes", ",", "--out", out]) == 2
    assert not os.listdir(tmp_path)


def test_more_samples_than_any_class_has_is_refused():
    with pytest.raises(CausalnetInputError, match="largest class of this data has 40"):
        build_graph(hand_wired(), hand_wired_data(40), samples_per_class=100_000, calibration_per_class=5)


def test_graph_records_the_samples_really_used():
    g = build_graph(hand_wired(), hand_wired_data(40), samples_per_class=35, calibration_per_class=5)
    used = g.nx.graph["data"]["samples_used"]
    assert set(used) == {"0", "1", "2"} and all(n <= 35 for n in used.values())
    assert g.nx.graph["data"]["calibration_used"] == 15


def test_garbage_checkpoint_entries_are_ignored(tmp_path, monkeypatch):
    model, data = hand_wired(), hand_wired_data(40)
    ckpt = tmp_path / "g.json.ckpt.json"
    original = _interrupt_at_class(monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt):
        GraphBuilder(model, BuildSettings(**SETTINGS), checkpoint=ckpt).build(data)
    monkeypatch.setattr(GraphBuilder, "_class_walk", original)
    state = json.loads(ckpt.read_text())
    layer = next(iter(state["global"]))
    state["global"][layer] = {"xi": "garbage"}
    state["classes"]["0"] = {"edges": [[1, 2]], "n_samples": 3}
    state["classes"]["1"]["edges"] = [["1:999", "logit:1", 0, 0, 0, 0, "edge"]]
    ckpt.write_text(json.dumps(state))
    resumed = GraphBuilder(model, BuildSettings(**SETTINGS), checkpoint=ckpt).build(data)
    assert _same(resumed, GraphBuilder(model, BuildSettings(**SETTINGS)).build(data))


@pytest.mark.parametrize("text", ["", "[]", "null", '{"key": 3}', "{" * 5000, '{"version": 2, "key": "x"}'])
def test_unreadable_checkpoint_files_start_afresh(tmp_path, text):
    path = tmp_path / "c.json"
    path.write_text(text)
    ckpt = BuildCheckpoint(path, "x")
    assert not ckpt.resumed and ckpt.state["global"] == {}


def test_failing_build_leaves_no_checkpoint(tmp_path):
    x, y = hand_wired_data(20)
    y = torch.where(y == 1, torch.tensor(0), y)
    y[:3] = 1                                      # class 1: no correctly classified input
    ckpt = tmp_path / "g.json.ckpt.json"
    builder = GraphBuilder(hand_wired(), BuildSettings(samples_per_class=5, calibration_per_class=2),
                           checkpoint=ckpt)
    with pytest.raises(CausalnetInputError, match="class 1 has 0 correctly classified"):
        builder.build((x, y))
    assert not ckpt.exists()


def test_blocks_are_written_at_most_every_interval(tmp_path):
    path = tmp_path / "c.json"
    ckpt = BuildCheckpoint(path, "k", every=3600)
    ckpt.put("blocks", "a#0", [[0.0]])                 # first write: at once
    assert json.loads(path.read_text())["blocks"] == {"a#0": [[0.0]]}
    ckpt.put("blocks", "a#1", [[1.0]])                 # within the interval: pending
    assert "a#1" not in json.loads(path.read_text())["blocks"]
    ckpt.flush()
    assert "a#1" in json.loads(path.read_text())["blocks"]
    ckpt.put("blocks", "b#0", [[2.0]])
    ckpt.put("global", "a", {"x": 1})                  # a finished layer: at once, with the pending block
    saved = json.loads(path.read_text())
    assert "b#0" in saved["blocks"] and saved["global"] == {"a": {"x": 1}}


def test_a_failing_build_writes_its_pending_blocks(tmp_path, monkeypatch):
    import causalnet.builder as builder_mod

    from .toy import tiny_cnn

    x = torch.randn(60, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        data = (x, tiny_cnn()(x).argmax(1))
    settings = BuildSettings(class_graphs=False, calibration_per_class=4, screen=False)
    monkeypatch.setitem(BuildCheckpoint.__init__.__kwdefaults__, "every", 3600.0)
    calls = []
    real = builder_mod.global_effect_test

    def fails_second(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(builder_mod, "global_effect_test", fails_second)
    ckpt = tmp_path / "g.json.ckpt.json"
    with pytest.raises(KeyboardInterrupt):
        GraphBuilder(tiny_cnn(), settings, checkpoint=ckpt).build(data)
    saved = json.loads(ckpt.read_text())
    assert list(saved["global"]) == ["conv1"] and list(saved["blocks"]) == ["conv3#0"]  # was pending
    monkeypatch.setattr(builder_mod, "global_effect_test", real)
    resumed = GraphBuilder(tiny_cnn(), settings, checkpoint=ckpt)
    graph = resumed.build(data)
    assert resumed.reused == 2
    assert _same(graph, GraphBuilder(tiny_cnn(), settings).build(data))

# ------------------------------------------------------------------ kill -9 and resume

_CHILD = """
import os, signal, sys, time
sys.path.insert(0, {root!r})
from causalnet.builder import BuildSettings, GraphBuilder
from causalnet.checkpoint import BuildCheckpoint
from tests.causalnet.toy import hand_wired, hand_wired_data
mode = {mode!r}
put = BuildCheckpoint.put
def slow_put(self, *a):
    put(self, *a)
    time.sleep(0.15)
BuildCheckpoint.put = slow_put
if mode == "after_last_put":
    def killed(self):
        os.kill(os.getpid(), signal.SIGKILL)
    BuildCheckpoint.discard = killed
    from causalnet.graph import CausalGraph
    CausalGraph.save = lambda self, path: os.kill(os.getpid(), signal.SIGKILL)
print("ready", flush=True)
GraphBuilder(hand_wired(), BuildSettings(samples_per_class=30, calibration_per_class=30),
             checkpoint={ckpt!r}).build(hand_wired_data(40), out={out!r})
"""


def _child(tmp_path: Path, mode: str) -> subprocess.Popen:
    code = _CHILD.format(root=str(ROOT), mode=mode, ckpt=str(tmp_path / "g.json.ckpt.json"),
                         out=str(tmp_path / "g.json"))
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})


@pytest.fixture(scope="module")
def fresh_graph():
    return GraphBuilder(hand_wired(), BuildSettings(**SETTINGS)).build(hand_wired_data(40))


@pytest.mark.parametrize("seed", [0, 1])
def test_random_sigkill_then_resume_is_identical(tmp_path, seed, fresh_graph):
    proc = _child(tmp_path, "random")
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(random.Random(seed).uniform(0.0, 0.8))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    out = tmp_path / "g.json"
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert not leftovers or all(p.startswith(".") for p in leftovers)
    if out.exists():                       # the child may have finished before the kill
        CausalGraph.load(out)
    resumed = GraphBuilder(hand_wired(), BuildSettings(**SETTINGS),
                           checkpoint=tmp_path / "g.json.ckpt.json").build(hand_wired_data(40), out=out)
    assert _same(resumed, fresh_graph) and _same(CausalGraph.load(out), fresh_graph)
    assert not (tmp_path / "g.json.ckpt.json").exists()


def test_sigkill_after_last_checkpoint_write_loses_nothing(tmp_path, monkeypatch, fresh_graph):
    proc = _child(tmp_path, "after_last_put")
    proc.communicate(timeout=300)
    assert proc.returncode == -signal.SIGKILL
    ckpt = tmp_path / "g.json.ckpt.json"
    assert ckpt.exists() and not (tmp_path / "g.json").exists()
    monkeypatch.setattr(GraphBuilder, "_class_walk", lambda *a: pytest.fail("recomputed a saved walk"))
    resumed = GraphBuilder(hand_wired(), BuildSettings(**SETTINGS), checkpoint=ckpt).build(
        hand_wired_data(40), out=tmp_path / "g.json")
    assert _same(resumed, fresh_graph) and not ckpt.exists()


# ------------------------------------------------------------------ models users really have


class ViewNet(nn.Module):
    """A published-MNIST-style CNN whose forward flattens with ``x.view(x.size(0), -1)``."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 4 * 4, 3)

    def forward(self, x):
        x = torch.relu(self.conv(x))
        return self.fc(x.view(x.size(0), -1))


def _view_data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(60, 1, 4, 4, generator=g)
    with torch.no_grad():
        y = ViewNet()(x).argmax(1)
    return x, y


def test_model_with_view_builds_in_its_own_memory_format():
    model = ViewNet()
    x, y = _view_data()
    g = build_graph(model, (x, y), samples_per_class=3, calibration_per_class=3)
    assert g.units() and model.conv.weight.is_contiguous()


def test_user_hooks_do_not_fire_during_a_build():
    model, data = hand_wired(), hand_wired_data(20)
    calls = []
    model[1].register_forward_hook(lambda m, i, o: calls.append(1))
    model.register_forward_pre_hook(lambda m, i: calls.append(2))
    build_graph(model, data, samples_per_class=5, calibration_per_class=5)
    assert calls == []
    model(data[0][:1])
    assert calls == [2, 1]    # the user's hooks are still there on the user's model


class Locked(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = hand_wired()
        self.lock = threading.Lock()

    def forward(self, x):
        return self.net(x)


def test_model_that_cannot_be_copied_is_a_clear_error():
    with pytest.raises(CausalnetInputError, match="cannot be copied"):
        build_graph(Locked(), hand_wired_data(20), samples_per_class=5, calibration_per_class=5)


def test_model_runtime_error_is_not_swallowed_by_the_tiled_fallback():
    from causalnet.interventions import InterventionEngine, _is_shape_clash
    from causalnet.units import discover_units

    class FailsOnce(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = hand_wired()
            self.armed = False

        def forward(self, x):
            if self.armed:
                self.armed = False
                raise RuntimeError("injected failure")
            return self.net(x)

    model = FailsOnce().eval()
    x, _ = hand_wired_data(10)
    units = discover_units(model, x[:1])
    engine = InterventionEngine(model, units, x, units_per_forward=4)
    model.armed = True
    with pytest.raises(RuntimeError, match="injected failure"):
        engine.ablate(units.layers[0], [0, 1, 2, 3])
    assert _is_shape_clash(RuntimeError("The size of tensor a (40) must match the size of tensor b (10)"))
    assert not _is_shape_clash(RuntimeError("injected failure"))


# ------------------------------------------------------------------ inputs that used to give tracebacks


def _folder(tmp_path: Path, corrupt: bool = False) -> Path:
    from PIL import Image

    for c in (0, 1):
        d = tmp_path / "imgs" / str(c)
        d.mkdir(parents=True, exist_ok=True)
        for k in range(3):
            Image.new("L", (8, 8), color=40 * k + 100 * c).save(d / f"{k}.png")
    if corrupt:
        (tmp_path / "imgs" / "1" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    return tmp_path / "imgs"


def test_corrupt_image_and_bad_size_are_input_errors(tmp_path):
    from causalnet.data import load_data
    from causalnet.evaluate import predict_logits

    root = _folder(tmp_path, corrupt=True)
    data = load_data(f"folder:{root}?size=8&channels=1")
    with pytest.raises(CausalnetInputError, match="bad.png"):
        predict_logits(nn.Sequential(nn.Flatten(), nn.Linear(64, 2)), data.eval)
    for spec in (f"folder:{root}?size=abc", f"folder:{root}?size=-3", f"folder:{root}?channels=2"):
        with pytest.raises(CausalnetInputError):
            load_data(spec)


@pytest.mark.parametrize("argv,says", [
    (["eval", "--model", "zoo:lenet5", "--data", "mnist:test", "--threads", "-4"], "--threads"),
    (["eval", "--model", "tests.causalnet.toy:hand_wired?width=3", "--data", "digits"], "bad options"),
    (["build", "--model", "zoo:lenet5", "--data", "mnist:test", "--ignore", "no.such", "-q", "--out", "{tmp}/g.json"],
     "no module named"),
    (["build", "--model", "zoo:lenet5", "--data", "mnist:test", "--out", "/proc/nope/g.json"], "cannot write --out"),
    (["audit", "{graph}", "--out", "/proc/nope/a.md"], "cannot write --out"),
    (["render", "{graph}", "--out", "/proc/nope/a.svg"], "cannot write --out"),
    (["prune", "--model", "zoo:lenet5", "--graph", "{graph}", "--target-params", "0.5", "--out", "{graph}"],
     "existing file"),
])
def test_cli_bad_inputs_exit_2(argv, says, tmp_path, capsys):
    graph = tmp_path / "g0.json"
    build_graph(hand_wired(), hand_wired_data(20), samples_per_class=5, calibration_per_class=5).save(graph)
    argv = [a.format(tmp=tmp_path, graph=graph) for a in argv]
    assert main(argv) == 2
    assert says in capsys.readouterr().err


def test_random_bytes_weights_are_not_called_a_pickle(tmp_path):
    from causalnet.models import load_weights_file

    for head in (b"", b"\x80"):
        path = tmp_path / "w.pt"
        path.write_bytes(head + bytes(random.Random(0).randrange(256) for _ in range(300)))
        for trust in (False, True):
            with pytest.raises(CausalnetInputError) as info:
                load_weights_file(path, trust=trust)
            assert "--trust" not in str(info.value)


def test_logits_out_of_a_wrapper_are_accepted():
    base = hand_wired()

    class Select(nn.Module):        # an index_select of a wider classifier's classes
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Flatten(), nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 5))
            with torch.no_grad():
                self.net[1].load_state_dict(base[1].state_dict())
                self.net[3].weight.zero_()
                self.net[3].bias.zero_()
                self.net[3].weight[[0, 2, 4]] = base[3].weight
            self.register_buffer("idx", torch.tensor([0, 2, 4]))

        def forward(self, x):
            return self.net(x).index_select(1, self.idx)

    g = build_graph(Select().eval(), hand_wired_data(30), samples_per_class=20, calibration_per_class=10)
    assert g.causes_of(0) == ["net.1:0"] and g.causes_of(1) == ["net.1:1"]
    assert g.causes_of(2) == ["net.1:2", "net.1:5"]
    soft = build_graph(nn.Sequential(hand_wired(), nn.Softmax(1)).eval(), hand_wired_data(30),
                       samples_per_class=20, calibration_per_class=10)
    assert soft.causes_of(0) == ["0.1:0"]


def test_ignore_is_recorded_and_unknown_names_refused():
    from causalnet.build_checks import check_ignore

    with pytest.raises(CausalnetInputError, match="no module named"):
        check_ignore(hand_wired(), ["9"])
    with pytest.raises(CausalnetInputError):
        check_ignore(hand_wired(), "1")


def test_view_model_runs_everywhere_channels_last_was_used():
    from causalnet.evaluate import accuracy, runs_channels_last
    from pruning.report import latency_ms

    model = ViewNet().eval()
    x, y = _view_data()
    assert accuracy(model, (x, y)) == 1.0
    converted = ViewNet().eval().to(memory_format=torch.channels_last)
    assert not runs_channels_last(converted, x)      # the probe sees the failure
    assert latency_ms(model, (1, 4, 4), 2, repeats=1, warmup=0) > 0
    assert model.conv.weight.is_contiguous()
