"""How fast the intervention engine is, against Captum and the naive loop, with equal numbers.

1. Global effects (log p_y(x | do(unit off)) - log p_y(x)) of the zoo ResNet-20's units over one
   calibration set, three ways in one process: this engine (exact: cached prefixes, batched
   replicas), Captum ``LayerFeatureAblation`` (at its best ``perturbations_per_eval``) and the
   naive loop (one unit, one full forward). Captum intervenes on one module's input, so the
   three-way comparison runs on the units read by one module (the residual blocks' inner
   channels); engine and naive also run on every unit. The numbers must agree to 1e-4.
2. A LeNet class graph against the published code's way: the same walk with one image and one
   candidate per forward (batch-1 forwards).

Run: ``python benchmarks/graph_speed.py [--images 500] [--quick] [--out DIR]`` or ``causalnet
bench speed [--quick]``; writes ``benchmarks/results/graph_speed.{csv,md}``.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

import numpy as np
import torch
from captum.attr import LayerFeatureAblation

from benchmarks._common import RESULTS, machine, markdown_table, timed, write_csv  # noqa: E402
from causalnet.builder import BuildSettings, GraphBuilder
from causalnet.data import calibration_set, load_data
from causalnet.evaluate import prefer_channels_last, true_class_logp
from causalnet.fileio import atomic_write_text
from causalnet.interventions import InterventionEngine, ablate_naive
from causalnet.units import discover_units
from causalnet.zoo import load_zoo_model


def log_prob_fn(model, labels):
    def forward(x):
        reps = x.shape[0] // len(labels)
        y = labels.repeat(reps)
        return true_class_logp(model(x), y)
    return forward


def engine_effects(model, units, layers, x, y):
    """The engine as `causalnet build` runs it: on a private channels_last copy of the user's
    model (the copy is made inside the timed region)."""
    work = prefer_channels_last(copy.deepcopy(model).eval())
    units = discover_units(work, x[:1])
    names = {layer.name for layer in layers}
    layers = [layer for layer in units if layer.name in names]
    engine = InterventionEngine(work, units, x)
    clean = true_class_logp(engine.clean, y)
    out = {}
    for layer in layers:
        out[layer.name] = true_class_logp(engine.ablate(layer, range(layer.size)), y) - clean
    return out


def naive_effects(model, layers, x, y):
    fn = log_prob_fn(model, y)
    with torch.inference_mode():
        clean = fn(x)
    out = {}
    for layer in layers:
        rows = [true_class_logp(ablate_naive(model, layer, u, x), y) - clean
                for u in range(layer.size)]
        out[layer.name] = torch.stack(rows)
    return out


def captum_effects(model, layers, x, y, ppe):
    fn = log_prob_fn(model, y)
    out = {}
    for layer in layers:
        reader = layer.readers[0]
        mask = torch.zeros(1, reader.in_size, 1, 1, dtype=torch.long)
        for u, idx in enumerate(reader.index):
            mask[0, idx] = u
        lfa = LayerFeatureAblation(fn, reader.module)
        attr = lfa.attribute(x, layer_baselines=0.0, layer_mask=mask, attribute_to_layer_input=True,
                             perturbations_per_eval=ppe)
        # attribution = f(x) - f(x with unit off) per sample, the same value on every position
        per_unit = torch.stack([attr[:, idx[0], 0, 0] for idx in reader.index])
        out[layer.name] = -per_unit
    return out


def fast_effects(model, units, layers, x, y):
    """Global effects in fast mode: first-order screen, exact tests for the undecided only."""
    from causalnet.builder import BuildSettings, GraphBuilder
    from causalnet.data import DataBundle, TensorImageDataset

    ds = TensorImageDataset(x, y)
    builder = GraphBuilder(model, BuildSettings(screen=True, class_graphs=False,
                                                calibration_per_class=len(y) // 10))
    builder._net = prefer_channels_last(copy.deepcopy(model).eval())   # as build() does
    units = discover_units(builder._net, x[:1])
    names = {layer.name for layer in layers}
    layers = [layer for layer in units if layer.name in names]

    from causalnet.checkpoint import BuildCheckpoint
    calibration = builder._calibration(DataBundle("tensors", ds, ds))
    return builder._global_effects(dataclasses.replace(units, layers=layers), calibration,
                                   BuildCheckpoint(None, "bench"))


def _fast_categories(results: dict, alpha=0.05) -> dict:
    from causalnet.stats import GlobalEffect

    return {name: GlobalEffect(*(np.asarray(g[k]) for k in ("xi", "ci_low", "ci_high", "p",
                                                              "mean_log_ratio"))).categories(alpha)
            for name, g in results.items()}


def categories_of(effects: dict, alpha=0.05) -> dict:
    from causalnet.stats import global_effect_test

    out = {}
    for name, log_ratio in effects.items():
        lr = log_ratio.double().numpy() if isinstance(log_ratio, torch.Tensor) else np.asarray(log_ratio)
        out[name] = global_effect_test(lr, alpha).categories(alpha)
    return out


def agreement(a: dict, b: dict) -> float:
    same = sum(x == y for k in a for x, y in zip(a[k], b[k], strict=True))
    return same / sum(len(v) for v in a.values())


def full_graph_rows(quick: bool) -> list[dict]:
    """The whole ResNet-20 graph (10 classes x 100 images + global effects), exact vs fast."""
    from causalnet.builder import BuildSettings, GraphBuilder

    model = load_zoo_model("resnet20")
    data = load_data("mnist")
    classes = [0, 1] if quick else None
    graphs, times = {}, {}
    for mode in ("exact", "fast"):
        settings = BuildSettings(classes=classes, screen=(mode == "fast"),
                                 samples_per_class=30 if quick else 100)
        with timed(times, mode):
            graphs[mode] = GraphBuilder(model, settings).build(data)
    ex, fa = graphs["exact"], graphs["fast"]
    cat_agree = np.mean([ex.node(n)["category"] == fa.node(n)["category"] for n in ex.units()])
    jac = []
    for c in ex.classes():
        a, b = set(ex.causes_of(c)), set(fa.causes_of(c))
        jac.append(len(a & b) / max(len(a | b), 1))
    n_cls = len(ex.classes())
    return [{"what": f"ResNet-20 full graph, exact mode ({n_cls} classes + global effects)",
             "units": len(ex.units()), "images": "", "causalnet_s": round(times["exact"], 1),
             "captum_s": "", "baseline": "", "baseline_s": "", "speedup_vs_baseline": "",
             "speedup_vs_captum": "", "max_abs_diff": ""},
            {"what": f"ResNet-20 full graph, fast mode: category agreement {cat_agree:.3f}, "
                     f"class-graph Jaccard {np.mean(jac):.3f}",
             "units": len(fa.units()), "images": "", "causalnet_s": round(times["fast"], 1),
             "captum_s": "", "baseline": "exact mode", "baseline_s": round(times["exact"], 1),
             "speedup_vs_baseline": round(times["exact"] / times["fast"], 2),
             "speedup_vs_captum": "", "max_abs_diff": ""}]


def max_diff(a, b):
    return max(float((a[k] - b[k]).abs().max()) for k in a)


def lenet_class_graph(quick: bool):
    model = load_zoo_model("lenet5")
    data = load_data("mnist")
    times = {}
    # the published walk joins every kept cause to every effect: no per-edge tests either
    builder = GraphBuilder(model, BuildSettings(classes=[3], global_effects=False, edge_effects="none"))
    builder.build(data)  # warm-up (imports, first Torch-Pruning trace)
    runs = []
    for _ in range(3):  # best of 3 on both sides: sub-second timings are noisy
        with timed(times, "engine"):
            graph = builder.build(data)
        runs.append(times["engine"])
    times["engine"] = min(runs)
    walk = graph.nx.graph["class_graphs"]["3"]
    tested = walk["layers_tested"]
    n = walk["n_samples"]
    forwards = n * sum(t["candidates"] for t in tested)
    # the published way: every (candidate, image) pair is one batch-1 forward with the cut
    x = builder._class_samples(data, 3)
    units = discover_units(model, x[:1])
    budget = forwards if not quick else forwards // 20
    best = float("inf")
    for _ in range(1 if quick else 3):
        done = 0
        with timed(times, "published"):
            with torch.inference_mode():
                for t in tested:
                    layer = units.layer(t["layer"])
                    for u in range(layer.size):
                        for i in range(n):
                            if done >= budget:
                                break
                            ablate_naive(model, layer, u, x[i:i + 1])
                            done += 1
        best = min(best, times["published"])
    published = best * forwards / max(done, 1)
    return {"what": f"LeNet class-3 graph (N={n}, {len(tested)} layers, edges joined as published; "
                    "whole build incl. unit discovery)",
            "units": sum(t["candidates"] for t in tested), "images": n,
            "causalnet_s": round(times["engine"], 2), "captum_s": "",
            "baseline": f"published way: {forwards} batch-1 forwards, best of 3" + (" (extrapolated)" if quick else ""),
            "baseline_s": round(published, 2), "speedup_vs_baseline": round(published / times["engine"], 1),
            "speedup_vs_captum": "", "max_abs_diff": ""}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=500)
    ap.add_argument("--quick", action="store_true", help="fewer images and units (smoke test)")
    ap.add_argument("--out", default=None, help="output folder (default benchmarks/results)")
    args = ap.parse_args(argv)
    out = Path(args.out) if args.out else RESULTS
    torch.manual_seed(0)
    per_class = max(1, (50 if args.quick else args.images) // 10)
    model = load_zoo_model("resnet20")
    x, y = calibration_set(load_data("mnist").fit, per_class, seed=0)
    # Captum and the naive loop get the model as the user gives it (NCHW); the engine makes
    # its own channels_last copy, as `causalnet build` does
    units = discover_units(model, x[:1])
    single = [layer for layer in units if len(layer.readers) == 1]
    if args.quick:
        single = single[:2]
    rows = []

    # 1a. single-reader layers: engine vs Captum vs naive
    ppe_times = {}
    probe = single[0]
    for ppe in (1, 4, 16):
        with timed(ppe_times, ppe):
            captum_effects(model, [probe], x[:100], y[:100], ppe)
    best_ppe = min(ppe_times, key=ppe_times.get)
    t = {}
    with timed(t, "engine"):
        eng = engine_effects(model, units, single, x, y)
    with timed(t, "captum"):
        cap = captum_effects(model, single, x, y, best_ppe)
    with timed(t, "naive"):
        nai = naive_effects(model, single, x, y)
    n_units = sum(layer.size for layer in single)
    rows.append({"what": "ResNet-20 global effects, single-reader layers", "units": n_units,
                 "images": len(x), "causalnet_s": round(t["engine"], 2), "captum_s": round(t["captum"], 2),
                 "baseline": "naive loop (one unit, one full forward)", "baseline_s": round(t["naive"], 2),
                 "speedup_vs_baseline": round(t["naive"] / t["engine"], 2),
                 "speedup_vs_captum": round(t["captum"] / t["engine"], 2),
                 "max_abs_diff": f"{max(max_diff(eng, cap), max_diff(eng, nai)):.2e}"})
    # 1a'. the same units in fast mode, against Captum, with the agreement of categories
    t3 = {}
    with timed(t3, "fast"):
        fast = fast_effects(model, units, single, x, y)
    agree = agreement(categories_of(eng), {k: v for k, v in _fast_categories(fast).items()})
    rows.append({"what": f"same, fast mode (category agreement with exact: {agree:.3f})",
                 "units": n_units, "images": len(x), "causalnet_s": round(t3["fast"], 2),
                 "captum_s": round(t["captum"], 2), "baseline": "naive loop",
                 "baseline_s": round(t["naive"], 2),
                 "speedup_vs_baseline": round(t["naive"] / t3["fast"], 2),
                 "speedup_vs_captum": round(t["captum"] / t3["fast"], 2), "max_abs_diff": ""})
    # 1b. every unit: engine vs naive
    layers = list(units) if not args.quick else list(units)[:3]
    t2 = {}
    with timed(t2, "engine"):
        eng_all = engine_effects(model, units, layers, x, y)
    with timed(t2, "naive"):
        nai_all = naive_effects(model, layers, x, y)
    rows.append({"what": "ResNet-20 global effects, every unit (incl. residual groups)",
                 "units": sum(layer.size for layer in layers), "images": len(x),
                 "causalnet_s": round(t2["engine"], 2), "captum_s": "",
                 "baseline": "naive loop", "baseline_s": round(t2["naive"], 2),
                 "speedup_vs_baseline": round(t2["naive"] / t2["engine"], 2), "speedup_vs_captum": "",
                 "max_abs_diff": f"{max_diff(eng_all, nai_all):.2e}"})
    # 2. the whole graph, exact and fast
    rows += full_graph_rows(args.quick)
    # 3. LeNet class graph vs the published way
    rows.append(lenet_class_graph(args.quick))

    for r in rows:
        print({k: v for k, v in r.items()})
    name = "graph_speed_quick" if args.quick else "graph_speed"
    if out == RESULTS:
        write_csv(f"{name}.csv", rows)
    else:
        import csv
        import io

        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(out / f"{name}.csv", buf.getvalue())
    md = (f"# Graph engine speed\n\nMachine: {machine()}. Captum's best perturbations_per_eval: "
          f"{best_ppe} (tried {', '.join(f'{k}: {v:.2f}s' for k, v in ppe_times.items())} on 100 images).\n\n"
          + markdown_table(rows) + "\n\nCommand: `python benchmarks/graph_speed.py"
          + (" --quick" if args.quick else "") + "`\n")
    atomic_write_text(out / f"{name}.md", md)
    agree = max(float(str(r["max_abs_diff"]) or 0) for r in rows if r["max_abs_diff"] != "")
    if agree > 1e-4:
        print(f"DISAGREEMENT: max abs diff {agree}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    sys.exit(main())
