"""Reruns the kinds of bad input of issue 17 and counts how each ends.

    python -m benchmarks.bad_inputs [--quick] [--out benchmarks/results/bad_inputs]

Kinds (each case is judged automatically):

* ``cli``: bad command-line inputs across build, eval, info, render, audit, prune and repair. Each
  must exit 2 with a one-line reason (clean); an escaping exception is a traceback; exit 0 is a
  silent acceptance.
* ``graph``: mutated graph files (random edits of a real graph's JSON, plus the report's
  meaningless graphs). Each must load or be refused with exit 2 by ``info``, ``render`` and
  ``audit``; the meaningless ones must be refused (a load is a silent acceptance).
* ``plan``: tampered pruning folders. ``load_pruned`` must refuse with a CausalnetError or load;
  the caller's model must be unchanged after a refusal; the report's tampered kinds must be
  refused.
* ``kill``: builds killed with SIGKILL at a random moment, then resumed: the resumed graph file
  must be byte-identical to an uninterrupted build, no temporary file may be left under the output
  name; plus resumes after the data changed (must equal a fresh build on the new data).
* ``inject``: a RuntimeError injected into the model's forward at a random call of a build: it
  must surface (not be swallowed) and the user's model must be unchanged.

Prints the counts per kind and writes ``bad_inputs.csv`` / ``bad_inputs.md`` under ``--out``.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import csv
import io
import json
import math
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run_cli(argv: list[str]) -> tuple[str, str]:
    """('clean' | 'traceback' | 'accepted' | 'exit N', last stderr line) of ``causalnet argv``."""
    from causalnet.cli import main

    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            rc = main(argv)
    except SystemExit as exc:   # argparse: usage error, exit 2
        rc = exc.code
    except Exception as exc:  # noqa: BLE001 - counting tracebacks is the point
        return "traceback", f"{type(exc).__name__}: {exc}"[:200]
    lines = [x for x in err.getvalue().strip().splitlines() if x.strip()]
    last = lines[-1] if lines else ""
    if rc == 2:
        return ("clean" if last else "exit 2 without a reason"), last[:200]
    return ("accepted" if rc == 0 else f"exit {rc}"), last[:200]


# ------------------------------------------------------------------ fixtures


def _fixtures(tmp: Path) -> dict:
    import torch
    from PIL import Image

    from causalnet.builder import build_graph
    from causalnet.data import load_data
    from causalnet.models import load_model

    fx = {"tmp": tmp}
    imgs = tmp / "imgs"
    for c in (0, 1):
        (imgs / str(c)).mkdir(parents=True, exist_ok=True)
        for k in range(3):
            Image.new("L", (28, 28), color=60 * k + 50 * c).save(imgs / str(c) / f"{k}.png")
    bad = tmp / "bad_imgs"
    for c in (0, 1):
        (bad / str(c)).mkdir(parents=True, exist_ok=True)
        (bad / str(c) / "x.png").write_bytes(b"\x89PNG\r\n\x1a\ncorrupt")
    fx["imgs"], fx["bad_imgs"] = imgs, bad
    (tmp / "random.pt").write_bytes(os.urandom(400))
    (tmp / "random.safetensors").write_bytes(os.urandom(400))
    torch.save(torch.nn.Linear(2, 2), tmp / "whole.pt")
    (tmp / "afile").write_text("x")
    (tmp / "adir").mkdir()
    model = load_model("zoo:lenet5")
    data = load_data("mnist:test")
    g = build_graph(model, data, classes=[0, 1], samples_per_class=5, calibration_per_class=2,
                    global_effects=True, model_spec="zoo:lenet5")
    g.save(tmp / "lenet.json")
    fx["graph_dict"] = json.loads((tmp / "lenet.json").read_text())
    return fx


def _write_graph(tmp: Path, name: str, edit) -> str:
    d = json.loads((tmp / "lenet.json").read_text())
    edit(d)
    (tmp / name).write_text(json.dumps(d, allow_nan=True))
    return str(tmp / name)


# ------------------------------------------------------------------ cli


def cli_cases(fx: dict) -> list[tuple[str, list[str]]]:
    t = fx["tmp"]
    g = str(t / "lenet.json")
    out = str(t / "g.json")
    B = ["build", "--model", "zoo:lenet5", "--data", "mnist:test", "-q", "--classes", "0",
         "--samples", "3", "--calibration", "2"]
    unit = next(n for n in fx["graph_dict"]["nodes"] if n["kind"] != "logit")
    free = next(n for n in fx["graph_dict"]["nodes"] if n["kind"] != "logit" and not n["classes"])

    def logit_edge(d):   # logit:0 -> a unit tagged with class 0 but on no path (no cycle)
        next(n for n in d["nodes"] if n["id"] == free["id"])["classes"] = [0]
        d["edges"].append({"source": "logit:0", "target": free["id"], "classes": {
            "0": {"effect": 1.0, "rel_effect": 0.1, "z": 3.0, "p": 0.01, "mode": "edge"}}})

    def set_unit(key, value):
        def edit(d):
            next(n for n in d["nodes"] if n["id"] == unit["id"])[key] = value
        return edit

    bad_graphs = {
        "index-1e6": set_unit("index", 1_000_000),
        "layers-empty": lambda d: d["graph"].update(layers=[]),
        "logit-edge": logit_edge,
        "nan-xi": set_unit("xi", math.nan),
        "list-endpoint": lambda d: d["edges"][0].update(source=["a"]),
        "int-fingerprint": lambda d: d["graph"]["model"].update(fingerprint=123),
        "tested-null": lambda d: d["graph"]["class_graphs"]["0"].update(layers_tested=None),
        "tested-string": lambda d: d["graph"]["class_graphs"]["0"]["layers_tested"][0].update(kept="x"),
    }
    graphs = {k: _write_graph(t, f"bad_{k}.json", e) for k, e in bad_graphs.items()}
    (t / "deep.json").write_text("[" * 1500 + "]" * 1500)
    (t / "random.json").write_bytes(os.urandom(300))
    cases = [
        ("build: empty model", ["build", "--model", "", "--out", out]),
        ("build: unknown zoo", ["build", "--model", "zoo:nosuch", "--out", out]),
        ("build: zoo option", ["build", "--model", "zoo:lenet5?width=3", "--out", out]),
        ("build: torchvision unknown", ["build", "--model", "torchvision:nosuchnet", "--out", out]),
        ("build: module missing", ["build", "--model", "nosuchmodule:f", "--out", out]),
        ("build: factory option", ["build", "--model", "tests.causalnet.toy:hand_wired?width=3", "--data", "digits", "--out", out]),
        ("build: zoo with weights", ["build", "--model", "zoo:lenet5@nothere.pt", "--out", out]),
        ("build: missing weights", ["build", "--model", "torchvision:resnet18@nothere.pt", "--out", out]),
        ("build: random .pt", ["build", "--model", f"torchvision:resnet18@{t / 'random.pt'}", "--out", out]),
        ("build: random .pt --trust", ["build", "--model", f"torchvision:resnet18@{t / 'random.pt'}", "--trust", "--out", out]),
        ("build: random .safetensors", ["build", "--model", f"torchvision:resnet18@{t / 'random.safetensors'}", "--out", out]),
        ("build: pickle without trust", ["build", "--model", str(t / "whole.pt"), "--out", out]),
        ("build: empty data", [*B, "--data", "", "--out", out]),
        ("build: mnist option", [*B, "--data", "mnist?foo=1", "--out", out]),
        ("build: bad split", [*B, "--data", "digits:val", "--out", out]),
        ("build: missing folder", [*B, "--data", "folder:/nonexistent", "--out", out]),
        ("build: size=abc", [*B, "--data", f"folder:{fx['imgs']}?size=abc", "--out", out]),
        ("build: size=-1", [*B, "--data", f"folder:{fx['imgs']}?size=-1", "--out", out]),
        ("build: channels=2", [*B, "--data", f"folder:{fx['imgs']}?channels=2", "--out", out]),
        ("build: corrupt png", ["build", "--model", "zoo:lenet5", "--data", f"folder:{fx['bad_imgs']}?size=28&channels=1", "-q", "--out", out]),
        ("build: data mismatch", ["build", "--model", "zoo:lenet5", "--data", "digits", "-q", "--out", out]),
        ("build: classes empty", [*B, "--classes", "", "--out", out]),
        ("build: classes comma", [*B, "--classes", ",", "--out", out]),
        ("build: classes text", [*B, "--classes", "a", "--out", out]),
        ("build: classes negative", [*B, "--classes", "-1", "--out", out]),
        ("build: classes 99", [*B, "--classes", "99", "--out", out]),
        ("build: samples 100000", [*B, "--samples", "100000", "--out", out]),
        ("build: samples 1", [*B, "--samples", "1", "--out", out]),
        ("build: samples -5", [*B, "--samples", "-5", "--out", out]),
        ("build: calibration 0", [*B, "--calibration", "0", "--out", out]),
        ("build: calibration 100000", [*B, "--calibration", "100000", "--out", out]),
        ("build: beta nan", [*B, "--beta", "nan", "--out", out]),
        ("build: beta inf", [*B, "--beta", "inf", "--out", out]),
        ("build: alpha 2", [*B, "--alpha", "2", "--out", out]),
        ("build: alpha nan", [*B, "--alpha", "nan", "--out", out]),
        ("build: seed -1", [*B, "--seed", "-1", "--out", out]),
        ("build: threads -4", [*B, "--threads", "-4", "--out", out]),
        ("build: threads 0", [*B, "--threads", "0", "--out", out]),
        ("build: out .txt", [*B, "--out", str(t / "g.txt")]),
        ("build: out /proc", [*B, "--out", "/proc/nope/g.json"]),
        ("build: out is a folder", [*B, "--out", str(t / "adir")]),
        ("build: out under a file", [*B, "--out", str(t / "afile" / "g.json")]),
        ("build: ignore unknown", [*B, "--ignore", "no.such", "--out", out]),
        ("build: no-global and nothing else", [*B, "--no-global", "--classes", "", "--out", out]),
        ("eval: unknown model", ["eval", "--model", "zoo:nosuch", "--data", "mnist:test"]),
        ("eval: bad data", ["eval", "--model", "zoo:lenet5", "--data", "nosuchdata"]),
        ("eval: threads -4", ["eval", "--model", "zoo:lenet5", "--data", "mnist:test", "--threads", "-4"]),
        ("eval: mismatch", ["eval", "--model", "zoo:lenet5", "--data", "digits"]),
        ("info: missing", ["info", str(t / "missing.json")]),
        ("info: random bytes", ["info", str(t / "random.json")]),
        ("info: deep nesting", ["info", str(t / "deep.json")]),
        ("info: a folder", ["info", str(t / "adir")]),
        ("info: wrong suffix", ["info", str(t / "afile")]),
        *[(f"info: {k}", ["info", p]) for k, p in graphs.items()],
        *[(f"render: {k}", ["render", p, "--out", str(t / "r.dot")]) for k, p in graphs.items()],
        *[(f"audit: {k}", ["audit", p, "--out", str(t / "a.md")]) for k, p in graphs.items()],
        *[(f"prune: {k}", ["prune", "--model", "zoo:lenet5", "--graph", p, "--data", "mnist:test",
                           "--target-params", "0.3", "--out", str(t / "pr")]) for k, p in graphs.items()],
        ("render: out /proc", ["render", g, "--out", "/proc/nope/x.svg"]),
        ("render: top 0", ["render", g, "--top", "0", "--out", str(t / "r.dot")]),
        ("render: class 99", ["render", g, "--class", "99", "--out", str(t / "r.dot")]),
        ("render: format clash", ["render", g, "--format", "png", "--out", str(t / "r.svg")]),
        ("render: html to /proc", ["render", g, "--html", "/proc/nope/x.html"]),
        ("audit: model without data", ["audit", g, "--model", "zoo:lenet5"]),
        ("audit: out /proc", ["audit", g, "--out", "/proc/nope/a.md"]),
        ("audit: other model", ["audit", g, "--model", "zoo:resnet20", "--data", "mnist:test", "--out", str(t / "a.md")]),
        ("prune: cswap without graph", ["prune", "--model", "zoo:lenet5", "--data", "mnist:test", "--target-params", "0.3", "--out", str(t / "pr")]),
        ("prune: out is a file", ["prune", "--model", "zoo:lenet5", "--graph", g, "--data", "mnist:test", "--target-params", "0.3", "--out", str(t / "afile")]),
        ("prune: out /proc", ["prune", "--model", "zoo:lenet5", "--graph", g, "--data", "mnist:test", "--target-params", "0.3", "--out", "/proc/nope"]),
        ("prune: other model", ["prune", "--model", "zoo:resnet20", "--graph", g, "--data", "mnist:test", "--target-params", "0.3", "--out", str(t / "pr")]),
        ("prune: target nan", ["prune", "--model", "zoo:lenet5", "--graph", g, "--data", "mnist:test", "--target-params", "nan", "--out", str(t / "pr")]),
        ("prune: target 2", ["prune", "--model", "zoo:lenet5", "--graph", g, "--data", "mnist:test", "--target-params", "2", "--out", str(t / "pr")]),
        ("prune: target -0.5", ["prune", "--model", "zoo:lenet5", "--graph", g, "--data", "mnist:test", "--target-params", "-0.5", "--out", str(t / "pr")]),
        ("prune: max-drop nan", ["prune", "--model", "zoo:lenet5", "--graph", g, "--data", "mnist:test", "--target-params", "0.3", "--max-drop", "nan", "--out", str(t / "pr")]),
        ("prune: round-to 0", ["prune", "--model", "zoo:lenet5", "--graph", g, "--data", "mnist:test", "--target-params", "0.3", "--round-to", "0", "--out", str(t / "pr")]),
        ("prune: calibration 0", ["prune", "--model", "zoo:lenet5", "--graph", g, "--data", "mnist:test", "--target-params", "0.3", "--calibration", "0", "--out", str(t / "pr")]),
        ("prune: bad repair", ["prune", "--model", "zoo:lenet5", "--graph", g, "--data", "mnist:test", "--target-params", "0.3", "--repair", "magic", "--out", str(t / "pr")]),
        ("repair: out is a file", ["repair", "--model", "zoo:lenet5", "--graph", g, "--data", "mnist:test", "--out", str(t / "afile")]),
        ("repair: other model", ["repair", "--model", "zoo:resnet20", "--graph", g, "--data", "mnist:test", "--out", str(t / "rp")]),
        ("repair: alpha nan", ["repair", "--model", "zoo:lenet5", "--graph", g, "--data", "mnist:test", "--alpha", "nan", "--out", str(t / "rp")]),
        ("repair: max-drop nan", ["repair", "--model", "zoo:lenet5", "--graph", g, "--data", "mnist:test", "--max-drop", "nan", "--out", str(t / "rp")]),
        ("prune: target-macs 0", ["prune", "--model", "zoo:lenet5", "--graph", g, "--data", "mnist:test", "--target-macs", "0", "--out", str(t / "pr")]),
        ("prune: check-images 0", ["prune", "--model", "zoo:lenet5", "--graph", g, "--data", "mnist:test", "--target-params", "0.3", "--check-images", "0", "--out", str(t / "pr")]),
        ("prune: unknown ingredient", ["prune", "--model", "zoo:lenet5", "--graph", g, "--data", "mnist:test", "--target-params", "0.3", "--ingredient", "harmz=1", "--out", str(t / "pr")]),
        ("prune: rescore -1", ["prune", "--model", "zoo:lenet5", "--graph", g, "--data", "mnist:test", "--target-params", "0.3", "--rescore-every", "-1", "--out", str(t / "pr")]),
        ("repair: classes text", ["repair", "--model", "zoo:lenet5", "--graph", g, "--data", "mnist:test", "--classes", "x", "--out", str(t / "rp")]),
    ]
    return cases


# ------------------------------------------------------------------ graph mutations


def _mutate(d, rng: random.Random) -> None:
    values = [None, True, -1, 0, 10**9, 1.5, math.nan, math.inf, "", "x", "logit:0", [], [1, "a"], {}, {"a": 1}]
    node = d
    while True:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            return
        key = rng.choice(keys)
        child = node[key]
        if isinstance(child, dict | list) and child and rng.random() < 0.6:
            node = child
            continue
        r = rng.random()
        if r < 0.6:
            node[key] = rng.choice(values)
        elif r < 0.85:
            del node[key]
        elif isinstance(node, dict):
            node[rng.choice(["id", "zz", "source", "classes"])] = rng.choice(values)
        else:
            node.append(rng.choice(values))
        return


def graph_cases(fx: dict, n: int, seed: int = 0) -> list[dict]:
    from causalnet.errors import CausalnetError
    from causalnet.graph import CausalGraph

    rng = random.Random(seed)
    t = fx["tmp"]
    rows = []
    for i in range(n):
        d = json.loads(json.dumps(fx["graph_dict"]))
        for _ in range(rng.randint(1, 3)):
            _mutate(d, rng)
        path = t / "mut.json"
        path.write_text(json.dumps(d, allow_nan=True))
        try:
            CausalGraph.load(path)
            loaded = True
        except CausalnetError:
            loaded = False
        except Exception as exc:  # noqa: BLE001
            rows.append({"kind": "graph", "case": f"mutation {i}", "outcome": "traceback",
                         "detail": f"load: {type(exc).__name__}: {exc}"[:200]})
            continue
        outcome, detail = "clean" if not loaded else "loaded", ""
        for argv in (["info", str(path)], ["render", str(path), "--out", str(t / "m.dot")],
                     ["audit", str(path), "-q", "--out", str(t / "m.md")]):
            o, msg = _run_cli(argv)
            if o == "traceback" or o.startswith("exit") and o != "exit 2":
                outcome, detail = "traceback", f"{argv[0]}: {msg}"
                break
        rows.append({"kind": "graph", "case": f"mutation {i}", "outcome": outcome, "detail": detail})
    return rows


# ------------------------------------------------------------------ plans


def plan_cases(n_random: int, seed: int = 0) -> list[dict]:
    import torch

    from causalnet.errors import CausalnetError
    from causalnet.fingerprint import model_fingerprint
    from causalnet.units import discover_units
    from pruning.io import load_pruned, make_plan, save_pruned
    from pruning.removal import prune_units
    from tests.pruning.nets import FoldCNN, random_removal

    rng = random.Random(seed)
    rows = []
    with tempfile.TemporaryDirectory() as td:
        folder = Path(td) / "pruned"
        source = FoldCNN(seed=0)
        x = torch.rand(4, 1, 10, 10)
        units = discover_units(source, x[:1])
        removal = random_removal(units, seed=0)
        plan = make_plan(source, removal, (1, 10, 10))
        model = copy.deepcopy(source)
        prune_units(model, units, removal, x[:1])
        save_pruned(model, plan, folder, {})
        saved = json.loads((folder / "plan.json").read_text())
        first = next(iter(saved["removal"]))
        named = {
            "fingerprint int": lambda p: p.update(source_fingerprint=1),
            "removal list": lambda p: p.update(removal=[1]),
            "input_shape -1": lambda p: p.update(input_shape=[-1, 10, 10]),
            "input_shape text": lambda p: p.update(input_shape=["a"]),
            "input_shape short": lambda p: p.update(input_shape=[10, 10]),
            "discover option": lambda p: p.update(discover_options={"bogus": 1}),
            "index 1e6": lambda p: p["removal"].update({first: [10**6]}),
            "unknown layer": lambda p: p["removal"].update({"nope": [0]}),
            "schema": lambda p: p.update(schema="x"),
            "version": lambda p: p.update(schema_version=9),
            "pruned fingerprint": lambda p: p.update(pruned_fingerprint="sha256:00"),
            "created biases int": lambda p: p.update(repair={"created_biases": [1]}),
        }
        texts = {"deep nesting": "[" * 1500 + "]" * 1500, "not json": "{", "null": "null", "empty": ""}
        before = model_fingerprint(FoldCNN(seed=0))

        def attempt(name, must_refuse):
            fresh = FoldCNN(seed=0)
            try:
                load_pruned(fresh, folder)
                outcome = "accepted" if must_refuse else "loaded"
            except CausalnetError:
                outcome = "clean" if model_fingerprint(fresh) == before else "model changed"
            except Exception as exc:  # noqa: BLE001
                return {"kind": "plan", "case": name, "outcome": "traceback", "detail": f"{type(exc).__name__}: {exc}"[:200]}
            return {"kind": "plan", "case": name, "outcome": outcome, "detail": ""}

        for name, edit in named.items():
            p = json.loads(json.dumps(saved))
            edit(p)
            (folder / "plan.json").write_text(json.dumps(p))
            rows.append(attempt(name, True))
        for name, text in texts.items():
            (folder / "plan.json").write_text(text)
            rows.append(attempt(name, True))
        (folder / "plan.json").write_text(json.dumps(saved))
        weights = (folder / "pruned.safetensors").read_bytes()
        (folder / "pruned.safetensors").write_bytes(os.urandom(300))
        rows.append(attempt("weights random", True))
        (folder / "pruned.safetensors").write_bytes(weights)
        for i in range(n_random):
            p = json.loads(json.dumps(saved))
            _mutate(p, rng)
            (folder / "plan.json").write_text(json.dumps(p, allow_nan=True))
            rows.append(attempt(f"mutation {i}", False))
    return rows


# ------------------------------------------------------------------ kill and resume, injected failures

_CHILD = """
import sys, time
sys.path.insert(0, {root!r})
from causalnet.builder import BuildSettings, GraphBuilder
from causalnet.checkpoint import BuildCheckpoint
from tests.causalnet.toy import hand_wired, hand_wired_data
put = BuildCheckpoint.put
def slow_put(self, *a):
    put(self, *a)
    time.sleep(0.1)
BuildCheckpoint.put = slow_put
print("ready", flush=True)
GraphBuilder(hand_wired(), BuildSettings(samples_per_class=30, calibration_per_class=30),
             checkpoint={ckpt!r}).build(hand_wired_data(40, seed={seed}), out={out!r})
"""


def kill_cases(n: int, seed: int = 0) -> list[dict]:
    from causalnet.builder import BuildSettings, GraphBuilder
    from tests.causalnet.toy import hand_wired, hand_wired_data

    rng = random.Random(seed)
    rows = []
    settings = dict(samples_per_class=30, calibration_per_class=30)
    with tempfile.TemporaryDirectory() as td:
        td = Path(td)
        ref = {}
        for s in (0, 1):
            GraphBuilder(hand_wired(), BuildSettings(**settings)).build(hand_wired_data(40, seed=s), out=td / f"ref{s}.json")
            ref[s] = (td / f"ref{s}.json").read_bytes()
        for i in range(n):
            case = td / f"k{i}"
            case.mkdir()
            out, ckpt = case / "g.json", case / "g.json.ckpt.json"
            changed = i % 4 == 3          # every fourth: resume on other data
            code = _CHILD.format(root=str(ROOT), ckpt=str(ckpt), out=str(out), seed=0)
            proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                                    env={**os.environ, "PYTHONPATH": str(ROOT)})
            proc.stdout.readline()
            time.sleep(rng.uniform(0.0, 0.7))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            partial = [p.name for p in case.iterdir() if p.name not in ("g.json", "g.json.ckpt.json")]
            broken = out.exists() and out.read_bytes() != ref[0]
            data_seed = 1 if changed else 0
            GraphBuilder(hand_wired(), BuildSettings(**settings), checkpoint=ckpt).build(
                hand_wired_data(40, seed=data_seed), out=out)
            same = out.read_bytes() == ref[data_seed]
            ok = same and not partial and not broken and not ckpt.exists()
            rows.append({"kind": "kill", "case": f"kill {i}" + (" then other data" if changed else ""),
                         "outcome": "clean" if ok else "silently wrong",
                         "detail": "" if ok else f"identical={same} partial={partial} broken={broken}"})
    return rows


def inject_cases(n: int, seed: int = 0) -> list[dict]:
    import torch
    from torch import nn

    from causalnet.builder import build_graph
    from causalnet.fingerprint import model_fingerprint
    from tests.causalnet.toy import hand_wired, hand_wired_data, tiny_cnn

    rng = random.Random(seed)
    rows = []

    class Injected(nn.Module):
        calls = 0   # on the class: shared with the private copy the build runs on

        def __init__(self, inner, at):
            super().__init__()
            self.inner, self.at = inner, at

        def forward(self, x):
            type(self).calls += 1
            if type(self).calls == self.at:
                raise RuntimeError("injected failure")
            return self.inner(x)

    for i in range(n):
        cnn = i % 2 == 1
        if cnn:
            torch.manual_seed(0)
            inner = tiny_cnn()
            x = torch.randn(60, 1, 8, 8)
            with torch.no_grad():
                y = inner(x).argmax(1)
            data = (x, y)
        else:
            inner, data = hand_wired(), hand_wired_data(20)
        Injected.calls = 0   # count the forwards of a build, then fail at one of them
        build_graph(Injected(inner, 0).eval(), data, samples_per_class=3, calibration_per_class=3,
                    units_per_forward=4)
        at = rng.randint(1, Injected.calls)
        Injected.calls = 0
        model = Injected(inner, at).eval()
        before = model_fingerprint(model)
        try:
            build_graph(model, data, samples_per_class=3, calibration_per_class=3, units_per_forward=4)
            outcome = "swallowed" if Injected.calls >= at else "not reached"
        except RuntimeError as exc:
            outcome = "clean" if "injected failure" in str(exc) else "other error"
        except Exception as exc:  # noqa: BLE001
            outcome = "clean" if "injected failure" in str(exc) else f"other error: {type(exc).__name__}"
        if model_fingerprint(model) != before:
            outcome = "model changed"
        rows.append({"kind": "inject", "case": f"{'cnn' if cnn else 'mlp'} call {at}", "outcome": outcome, "detail": ""})
    return rows


# ------------------------------------------------------------------ main


def summarise(rows: list[dict]) -> list[dict]:
    out = []
    for kind in dict.fromkeys(r["kind"] for r in rows):
        rs = [r for r in rows if r["kind"] == kind]
        out.append({"kind": kind, "cases": len(rs),
                    "clean": sum(r["outcome"] in ("clean", "loaded") for r in rs),
                    "of which refused (exit 2 / CausalnetError)": sum(r["outcome"] == "clean" for r in rs),
                    "tracebacks": sum(r["outcome"] == "traceback" for r in rs),
                    "silent acceptances / wrong": sum(r["outcome"] in ("accepted", "silently wrong", "swallowed",
                                                                      "model changed") for r in rs),
                    "other": sum(r["outcome"] not in ("clean", "loaded", "traceback", "accepted", "silently wrong",
                                                      "swallowed", "model changed") for r in rs)})
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer random cases")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "bad_inputs"))
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(2)
    sys.path.insert(0, str(ROOT))
    rows: list[dict] = []
    start = time.perf_counter()

    def stamp(what: str) -> None:
        print(f"[{time.perf_counter() - start:.0f} s] {what}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory() as td:
        fx = _fixtures(Path(td))
        stamp("fixtures")
        for name, cli in cli_cases(fx):
            t0 = time.perf_counter()
            outcome, detail = _run_cli(cli)
            rows.append({"kind": "cli", "case": name, "outcome": outcome, "detail": detail})
            if time.perf_counter() - t0 > 20:
                stamp(f"slow cli case: {name}")
        stamp("cli")
        rows += graph_cases(fx, 60 if args.quick else 302)
        stamp("graph")
    rows += plan_cases(10 if args.quick else 17)
    stamp("plan")
    rows += kill_cases(4 if args.quick else 14)
    stamp("kill")
    rows += inject_cases(6 if args.quick else 17)
    stamp("inject")
    summary = summarise(rows)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "bad_inputs.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["kind", "case", "outcome", "detail"])
        w.writeheader()
        w.writerows(rows)
    cols = list(summary[0])
    md = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    md += ["| " + " | ".join(str(s[c]) for c in cols) + " |" for s in summary]
    bad = [r for r in rows if r["outcome"] not in ("clean", "loaded")]
    md += ["", f"Cases not clean: {len(bad)}", *[f"- {r['kind']} / {r['case']}: {r['outcome']} {r['detail']}" for r in bad]]
    (out / "bad_inputs.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
