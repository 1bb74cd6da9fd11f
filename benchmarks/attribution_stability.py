"""Explanation benchmark: causal explanations against Captum's, for stability and faithfulness
(issue #4; METHOD.md section 6).

1. Unit level (:mod:`benchmarks._explain_units`): per (layer, class), the causal ranking of the
   units (class effects) against LayerConductance, LayerGradientXActivation, InternalInfluence,
   LayerIntegratedGradients, LayerActivation and LayerFeatureAblation on the same units, with
   random and weight-magnitude controls.
   - stability: Spearman and top-k Jaccard (k = 5, 10, 20% of a layer's units) between the
     rankings of 5 disjoint calibration subsets (all 10 pairs), and between clean and noisy
     (Gaussian, sd 0.1, in the model's input space) images of the first subset;
   - faithfulness: on held-out test images of the class, zero-ablate the top-k units of the
     first subset's ranking (k = 0..50% of the layer) and record the class-logit and accuracy
     drop; the area under each curve (x scaled to [0, 1]; larger = steeper = more faithful).
2. Input level (:mod:`benchmarks._explain_inputs`): paper 2's causal visual explanation against
   IntegratedGradients, Saliency, GradientShap and InputXGradient: Local Lipschitz estimate,
   max-sensitivity, infidelity, IROF, deletion and insertion AUC. Needs conv units (LeNet,
   ResNet-20; not the ViT, whose only conv is the patch embedding of the residual stream).
3. Graph stability: class graphs rebuilt with soft interventions, beta in 0..0.5, several
   repeats (seed r: a new draw of the class images and of the soft values); how often each
   node reappears, pairwise Jaccard of the repeats' node sets, and Jaccard with the beta = 0
   graph of the same repeat (same images: only the intervention value differs).

Seeds re-draw every data sample (calibration pool and its splits, test and explained images,
noise, random ranking, GradientShap baselines); the zoo models are fixed (one checkpoint each).

Run: ``causalnet bench explain [--quick]`` or ``python benchmarks/attribution_stability.py
[--quick] [--models lenet5,resnet20] [--seeds 0,1,2] [--out DIR]``.
"""

from __future__ import annotations

import argparse
import csv
import io
import itertools
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

import numpy as np  # noqa: E402
import torch  # noqa: E402

from benchmarks._common import RESULTS, machine, markdown_table, read_csv  # noqa: E402
from causalnet.fileio import atomic_write_text  # noqa: E402

FRACTIONS = [0.0, 0.05, 0.1, 0.2, 0.3, 0.5]
TOPK = (0.05, 0.1, 0.2)
BETAS = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
SPLITS = 5
NOISE_SD = 0.1
PUBLISHED_LLE = {"causal": 0.287, "IntegratedGradients": 1.668, "GradientShap": 1.950,
                 "InputXGradient": 1.965, "Saliency": 3.362}   # paper 2, LeNet on MNIST


@dataclass
class ModelConfig:
    layers: list[str] | None          # single-reader unit layers compared (None: all of them)
    classes: list[int]
    per_class: int                    # calibration images per class in each of the 5 splits
    test_per_class: int               # held-out images per class for the removal curves
    n_steps: int                      # Captum path methods (conductance, IG, internal influence)
    input_per_class: int = 0          # explained images per class (0: no input level)
    input_steps: int = 32             # IntegratedGradients steps at input level
    graph_samples: int = 50           # N of the class graphs behind the causal saliency
    gs_classes: list[int] = field(default_factory=lambda: list(range(10)))
    gs_samples: int = 100             # N of the graph-stability class graphs
    gs_repeats: int = 10
    gs_betas: list[float] = field(default_factory=lambda: list(BETAS))
    splits: int = SPLITS              # disjoint calibration splits
    perturbations: int = 10           # Local Lipschitz / max-sensitivity / infidelity samples
    deletion_steps: int = 28          # deletion / insertion curve points - 1


FULL = {
    "lenet5": ModelConfig(None, list(range(10)), per_class=10, test_per_class=10, n_steps=8,
                          input_per_class=3, graph_samples=100, gs_samples=100, gs_repeats=10),
    "resnet20": ModelConfig(["layer1.0.conv1", "layer2.0.conv1", "layer3.0.conv1"], list(range(5)),
                            per_class=5, test_per_class=10, n_steps=8, input_per_class=2,
                            graph_samples=50, gs_classes=[0, 1, 2], gs_samples=50, gs_repeats=3),
    "vit_tiny": ModelConfig(["blocks.1.attn", "blocks.4.attn", "blocks.3.mlp.fc1"], list(range(5)),
                            per_class=5, test_per_class=10,
                            n_steps=8, input_per_class=0, gs_classes=[0, 1, 2], gs_samples=50,
                            gs_repeats=3),
}
QUICK = {
    "lenet5": ModelConfig(["conv2"], [0, 1], per_class=2, test_per_class=3, n_steps=2,
                          input_per_class=1, input_steps=4, graph_samples=20, gs_classes=[0, 1],
                          gs_samples=20, gs_repeats=2, gs_betas=[0.0, 0.5], perturbations=2,
                          deletion_steps=4, splits=2),
}


# ---------------------------------------------------------------------------- data
def disjoint_splits(y: torch.Tensor, n_splits: int) -> list[torch.Tensor]:
    """Class-balanced disjoint index sets: each class's indices dealt round-robin."""
    parts: list[list[int]] = [[] for _ in range(n_splits)]
    for c in torch.unique(y).tolist():
        idx = torch.nonzero(y == c)[:, 0].tolist()
        for i, j in enumerate(idx):
            parts[i % n_splits].append(j)
    return [torch.tensor(sorted(p)) for p in parts]


def _write_csv(path: Path, rows: list[dict]) -> Path:
    buf = io.StringIO()
    cols = list(dict.fromkeys(k for r in rows for k in r))
    writer = csv.DictWriter(buf, fieldnames=cols)
    writer.writeheader()
    writer.writerows(rows)
    return atomic_write_text(path, buf.getvalue())


def _merge(path: Path, rows: list[dict], models: list[str]) -> list[dict]:
    """``rows`` plus the rows of other models already in ``path`` (so models can be run in
    separate processes, or rerun alone, into one set of files)."""
    return [r for r in read_csv(path) if r.get("model") not in models] + rows


def _log(msg: str, quiet: bool) -> None:
    if not quiet:
        print(msg, flush=True)


# ---------------------------------------------------------------------------- unit level
def _stability(a: dict, b: dict) -> dict:
    """Mean Spearman / top-k Jaccard over the (layer, class) rankings of two score sets."""
    from benchmarks._explain_metrics import spearman, topk_jaccard

    rho, jac = [], {f: [] for f in TOPK}
    for layer, per_class in a.items():
        for c, sa in per_class.items():
            sb = b[layer][c]
            rho.append(spearman(sa, sb))
            for f in TOPK:
                jac[f].append(topk_jaccard(sa, sb, f))
    out = {"spearman": float(np.nanmean(rho)) if not np.all(np.isnan(rho)) else float("nan")}
    out.update({f"jaccard{round(f * 100)}": float(np.mean(v)) for f, v in jac.items()})
    return out


def unit_level(name: str, model, units, data, cfg: ModelConfig, seed: int, quiet: bool
               ) -> tuple[list[dict], list[dict]]:
    from benchmarks._explain_metrics import area
    from benchmarks._explain_units import METHODS, all_scores, removal_curve, single_reader_layers
    from causalnet.data import calibration_set

    x, y = calibration_set(data.fit, cfg.per_class * cfg.splits, seed=seed, classes=cfg.classes)
    splits = disjoint_splits(y, cfg.splits)
    timings: dict[str, float] = {}
    scores = []
    for i, idx in enumerate(splits):
        t0 = time.perf_counter()
        scores.append(all_scores(model, units, x[idx], y[idx], classes=cfg.classes,
                                 seed=seed * 100 + i, n_steps=cfg.n_steps, layers=cfg.layers,
                                 timings=timings))
        _log(f"  {name} seed {seed}: rankings on split {i + 1}/{cfg.splits} "
             f"({time.perf_counter() - t0:.0f} s)", quiet)
    gen = torch.Generator().manual_seed(10_000 + seed)
    x0, y0 = x[splits[0]], y[splits[0]]
    noisy = all_scores(model, units, x0 + NOISE_SD * torch.randn(x0.shape, generator=gen), y0,
                       classes=cfg.classes, seed=seed * 100 + 99, n_steps=cfg.n_steps,
                       layers=cfg.layers)
    xt, yt = calibration_set(data.eval, cfg.test_per_class, seed=seed, classes=cfg.classes)
    layers = [layer for layer in single_reader_layers(units)
              if cfg.layers is None or layer.name in cfg.layers]
    rows, curves = [], []
    for method in METHODS:
        pairs = [_stability(scores[i][method], scores[j][method])
                 for i, j in itertools.combinations(range(cfg.splits), 2)]
        noise = _stability(scores[0][method], noisy[method])
        per_fraction: dict[float, list[dict]] = {f: [] for f in FRACTIONS}
        with torch.no_grad():
            for layer in layers:
                for c in cfg.classes:
                    for r in removal_curve(model, layer, scores[0][method][layer.name][c],
                                           xt[yt == c], c, FRACTIONS):
                        per_fraction[r["fraction"]].append(r)
        curve = {k: [float(np.mean([r[k] for r in per_fraction[f]])) for f in FRACTIONS]
                 for k in ("logit_drop", "rel_logit_drop", "acc_drop")}
        for i, f in enumerate(FRACTIONS):
            curves.append({"model": name, "seed": seed, "method": method, "fraction": f,
                           **{k: v[i] for k, v in curve.items()}})
        row = {"model": name, "seed": seed, "method": method}
        for key in pairs[0]:
            row[f"{key}_splits"] = float(np.nanmean([p[key] for p in pairs]))
        for key, v in noise.items():
            row[f"{key}_noise"] = v
        row["logit_drop_auc"] = area(curve["logit_drop"], FRACTIONS)
        row["rel_logit_drop_auc"] = area(curve["rel_logit_drop"], FRACTIONS)
        row["acc_drop_auc"] = area(curve["acc_drop"], FRACTIONS)
        row["ranking_s"] = timings.get(method, 0.0) / cfg.splits
        rows.append(row)
    return rows, curves


# ---------------------------------------------------------------------------- input level
def input_level(name: str, model, data, cfg: ModelConfig, seed: int, quiet: bool,
                graph=None) -> list[dict]:
    from benchmarks._explain_inputs import METHODS, evaluate, explainer
    from causalnet.builder import build_graph
    from causalnet.data import calibration_set
    from causalnet.explain import saliency_source

    classes = cfg.classes
    if graph is None:
        graph = build_graph(model, data, classes=classes, samples_per_class=cfg.graph_samples,
                            calibration_per_class=10, seed=seed)
    classes = [c for c in classes if c in graph.classes()]
    x, y = calibration_set(data.eval, cfg.input_per_class, seed=100 + seed, classes=classes)
    shap_base, _ = calibration_set(data.fit, 1, seed=200 + seed)
    sources = sorted({saliency_source(model, graph, c) for c in classes})
    rows = []
    for method in METHODS:
        t0 = time.perf_counter()
        explain = explainer(model, method, graph=graph, n_steps=cfg.input_steps,
                            shap_baselines=shap_base)
        metrics = evaluate(model, explain, x, y, seed=seed, lipschitz_samples=cfg.perturbations,
                           sens_samples=cfg.perturbations, steps=cfg.deletion_steps)
        rows.append({"model": name, "seed": seed, "method": method, **metrics,
                     "images": len(x), "seconds": time.perf_counter() - t0,
                     "causal_map_source": "+".join(sources) if method == "causal" else ""})
        _log(f"  {name} seed {seed}: input level {method} ({rows[-1]['seconds']:.0f} s)", quiet)
    return rows


# ---------------------------------------------------------------------------- graph stability
def graph_stability(name: str, model, data, cfg: ModelConfig, quiet: bool
                    ) -> tuple[list[dict], list[dict]]:
    from causalnet.builder import build_graph

    sets: dict[float, list[set]] = {}
    for beta in cfg.gs_betas:
        sets[beta] = []
        for r in range(cfg.gs_repeats):
            g = build_graph(model, data, classes=cfg.gs_classes, samples_per_class=cfg.gs_samples,
                            intervention="soft", beta=beta, seed=r, global_effects=False,
                            walk="paper2")  # soft interventions: paper 2's stability study
            sets[beta].append({(c, n) for c in cfg.gs_classes for n in g.causes_of(c)})
        _log(f"  {name}: graph stability beta {beta} ({cfg.gs_repeats} repeats)", quiet)
    jac = lambda a, b: len(a & b) / max(len(a | b), 1)  # noqa: E731
    rows, nodes = [], []
    for beta, runs in sets.items():
        union = set().union(*runs)
        freq = {k: sum(k in s for s in runs) / len(runs) for k in union}
        pair = [jac(a, b) for a, b in itertools.combinations(runs, 2)]
        vs0 = [jac(a, b) for a, b in zip(runs, sets[cfg.gs_betas[0]], strict=True)]
        rows.append({"model": name, "beta": beta, "repeats": len(runs),
                     "classes": len(cfg.gs_classes), "N": cfg.gs_samples,
                     "mean_nodes": float(np.mean([len(s) for s in runs])),
                     "distinct_nodes": len(union),
                     "mean_reappearance": float(np.mean(list(freq.values()))) if freq else float("nan"),
                     "always_present": float(np.mean([f == 1.0 for f in freq.values()])) if freq else float("nan"),
                     "pairwise_jaccard": float(np.mean(pair)) if pair else float("nan"),
                     "pairwise_jaccard_sd": float(np.std(pair)) if pair else float("nan"),
                     "jaccard_vs_beta0": float(np.mean(vs0)),
                     "jaccard_vs_beta0_sd": float(np.std(vs0))})
        nodes += [{"model": name, "beta": beta, "class": c, "node": n, "frequency": f}
                  for (c, n), f in sorted(freq.items())]
    return rows, nodes


# ---------------------------------------------------------------------------- report
def _summary(rows: list[dict], keys: list[str], group: tuple[str, ...]) -> list[dict]:
    """Mean and sd over seeds of ``keys``, one row per ``group`` value."""
    out = []
    for gval in dict.fromkeys(tuple(r[g] for g in group) for r in rows):
        sel = [r for r in rows if tuple(r[g] for g in group) == gval]
        row = dict(zip(group, gval, strict=True))
        row["seeds"] = len(sel)
        for k in keys:
            v = np.array([r[k] for r in sel], dtype=float)
            row[k] = f"{np.nanmean(v):.3f} ± {np.nanstd(v):.3f}" if len(v) > 1 else f"{v[0]:.3f}"
        out.append(row)
    return out


def _plots(out: Path, sfx: str, unit_rows, curves, input_rows, gs_rows) -> list[Path]:
    from viz.plots import faithfulness_curves, stability_bars

    written = []
    for model in dict.fromkeys(r["model"] for r in unit_rows):
        sel = [r for r in unit_rows if r["model"] == model]
        methods = list(dict.fromkeys(r["method"] for r in sel))
        written.append(stability_bars(
            {m: [r["spearman_splits"] for r in sel if r["method"] == m] for m in methods},
            out / f"attribution_stability_{model}{sfx}.png",
            ylabel="Spearman between disjoint calibration splits",
            title=f"{model}: unit-ranking stability (mean ± sd over seeds)"))
        cur = [c for c in curves if c["model"] == model]
        written.append(faithfulness_curves(
            {m: [float(np.mean([c["logit_drop"] for c in cur if c["method"] == m and c["fraction"] == f]))
                 for f in FRACTIONS] for m in methods},
            out / f"attribution_faithfulness_{model}{sfx}.png", x=FRACTIONS,
            xlabel="fraction of a layer's units removed (top of each ranking)",
            ylabel="class-logit drop (held-out images)",
            title=f"{model}: unit removal (steeper = more faithful)"))
    for model in dict.fromkeys(r["model"] for r in input_rows):
        sel = [r for r in input_rows if r["model"] == model]
        methods = list(dict.fromkeys(r["method"] for r in sel))
        written.append(stability_bars(
            {m: [r["local_lipschitz"] for r in sel if r["method"] == m] for m in methods},
            out / f"attribution_lipschitz_{model}{sfx}.png",
            ylabel="Local Lipschitz estimate (lower = more stable)",
            title=f"{model}: input-level stability (mean ± sd over seeds)"))
    if gs_rows:
        models = list(dict.fromkeys(r["model"] for r in gs_rows))
        betas = [r["beta"] for r in gs_rows if r["model"] == models[0]]
        written.append(faithfulness_curves(
            {f"{m} {k}": [r[k] for r in gs_rows if r["model"] == m]
             for m in models for k in ("pairwise_jaccard", "jaccard_vs_beta0")},
            out / f"graph_stability{sfx}.png", x=betas, xlabel="soft intervention beta",
            ylabel="Jaccard of class-graph node sets", title="graph stability under soft interventions"))
    return written


def _markdown(sfx, runs: dict, unit_rows, input_rows, gs_rows) -> str:
    unit_keys = ["spearman_splits", "jaccard10_splits", "spearman_noise", "jaccard10_noise",
                 "logit_drop_auc", "acc_drop_auc", "ranking_s"]
    md = [f"# Explanation benchmark{' (quick smoke run: not for quoting)' if sfx else ''}", "",
          "Runs (machine, command, seeds, wall time per part in seconds):", ""]
    md += [f"- {m}: {r['machine']}; `{r['command']}`; seeds {r['seeds']}; "
           + ", ".join(f"{k.split(' ', 1)[1]} {v:.0f} s" for k, v in r["timings_s"].items())
           for m, r in runs.items()]
    md += ["", "Settings per model (`ModelConfig` in `benchmarks/attribution_stability.py`):", ""]
    if runs:
        md.append(markdown_table([{"model": m, **{k: (v if not isinstance(v, list) else
                                                       ",".join(map(str, v)))
                                                  for k, v in r["config"].items()}}
                                  for m, r in runs.items()]))
    md += ["", "## Unit level (mean ± sd over seeds)", "",
           "Stability: mean over (layer, class) rankings of Spearman / top-10% Jaccard between the 5 "
           "disjoint calibration splits (all pairs) and between clean and noisy images (sd 0.1). "
           "Faithfulness: area under the class-logit drop and accuracy drop curves when the top "
           "0-50% of a layer's units are zero-ablated on held-out images (larger = more faithful). "
           "`weight_l1` uses no data, so its stability is 1 by construction; `random` is the floor.",
           "", markdown_table(_summary(unit_rows, unit_keys, ("model", "method"))), ""]
    if input_rows:
        in_keys = ["local_lipschitz", "sensitivity_max", "infidelity", "irof", "deletion_auc",
                   "insertion_auc", "seconds"]
        md += ["## Input level (mean ± sd over seeds)", "",
               "Lower is better for local_lipschitz, sensitivity_max, infidelity and deletion_auc; "
               "higher for irof and insertion_auc. Published (paper 2, LeNet/MNIST) Local Lipschitz "
               "for reference: " + ", ".join(f"{k} {v}" for k, v in PUBLISHED_LLE.items()) + ".", "",
               markdown_table(_summary(input_rows, in_keys, ("model", "method"))), ""]
    if gs_rows:
        md += ["## Graph stability under soft interventions", "",
               "Repeat r uses seed r (its own draw of class images and soft values). "
               "`mean_reappearance`: mean over nodes seen in any repeat of the fraction of repeats "
               "that hold them; `jaccard_vs_beta0`: node-set Jaccard with the beta = 0 graph of "
               "the same repeat (same images, only the intervention value differs).", "",
               markdown_table(gs_rows), ""]
    return "\n".join(md)


def run(quick: bool = False, out_dir: str | Path | None = None, models: list[str] | None = None,
        seeds: list[int] | None = None, quiet: bool = False, command: str | None = None) -> list[Path]:
    """Run the benchmark and write its files into ``out_dir`` (default benchmarks/results);
    returns the paths written."""
    from benchmarks._explain_units import working_copy
    from causalnet.data import load_data
    from causalnet.errors import CausalnetInputError
    from causalnet.models import load_model
    from causalnet.zoo import zoo_entry

    table = QUICK if quick else FULL
    models = models or list(table)
    # a Fashion-MNIST zoo model (fashion_NAME) runs with its architecture's settings, on its data
    table = {**table, **{m: table[_arch(m)] for m in models if _arch(m) in table}}
    unknown = [m for m in models if m not in table]
    if unknown:
        raise CausalnetInputError(f"no {'quick ' if quick else ''}benchmark settings for {unknown}; "
                                  f"known: {', '.join(table)}")
    seeds = seeds if seeds is not None else ([0] if quick else [0, 1, 2])
    out = Path(out_dir) if out_dir else RESULTS
    out.mkdir(parents=True, exist_ok=True)
    sfx = "_quick" if quick else ""
    datasets: dict[str, object] = {}
    unit_rows, curves, input_rows, gs_rows, gs_nodes = [], [], [], [], []
    timings: dict[str, float] = {}
    for name in models:
        cfg = table[name]
        spec = zoo_entry(name).recipe.dataset
        data = datasets.get(spec) or datasets.setdefault(spec, load_data(spec))
        model = load_model(f"zoo:{name}").eval()
        net, units = working_copy(model, data.fit[0][0][None])
        t0 = time.perf_counter()
        for seed in seeds:
            torch.manual_seed(seed)
            rows, cur = unit_level(name, net, units, data, cfg, seed, quiet)
            unit_rows += rows
            curves += cur
        timings[f"{name} units"] = time.perf_counter() - t0
        if cfg.input_per_class:
            t0 = time.perf_counter()
            for seed in seeds:
                input_rows += input_level(name, net, data, cfg, seed, quiet)
            timings[f"{name} inputs"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        rows, nodes = graph_stability(name, net, data, cfg, quiet)
        gs_rows += rows
        gs_nodes += nodes
        timings[f"{name} graph stability"] = time.perf_counter() - t0
    names = {"units": f"attribution_units{sfx}.csv", "curves": f"attribution_faithfulness{sfx}.csv",
             "inputs": f"attribution_inputs{sfx}.csv", "gs": f"graph_stability{sfx}.csv",
             "nodes": f"graph_stability_nodes{sfx}.csv"}
    new = {"units": unit_rows, "curves": curves, "inputs": input_rows, "gs": gs_rows,
           "nodes": gs_nodes}
    written = []
    for key, rows in new.items():
        rows = _merge(out / names[key], rows, models)
        if rows:
            written.append(_write_csv(out / names[key], rows))
    meta_path = out / f"attribution_stability{sfx}.json"
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    command = command or ("causalnet bench explain" + (" --quick" if quick else ""))
    meta.setdefault("runs", {})
    for name in models:
        meta["runs"][name] = {"command": command, "seeds": seeds, "machine": machine(),
                              "config": asdict(table[name]),
                              "timings_s": {k: round(v, 1) for k, v in timings.items()
                                            if k.startswith(name + " ")}}
    atomic_write_text(meta_path, json.dumps(meta, indent=1) + "\n")
    written.append(meta_path)
    written += report(out, quick)
    return written


def _arch(name: str) -> str:
    """The MNIST zoo name of a model's architecture (``fashion_resnet20`` -> ``resnet20``)."""
    return name.removeprefix("fashion_")


def report(out_dir: str | Path | None = None, quick: bool = False) -> list[Path]:
    """(Re)write the markdown summary and the plots from the CSV files in ``out_dir``."""
    out = Path(out_dir) if out_dir else RESULTS
    sfx = "_quick" if quick else ""
    rows = {k: read_csv(out / f"{stem}{sfx}.csv") for k, stem in (
        ("units", "attribution_units"), ("curves", "attribution_faithfulness"),
        ("inputs", "attribution_inputs"), ("gs", "graph_stability"))}
    meta_path = out / f"attribution_stability{sfx}.json"
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {"runs": {}}
    written = _plots(out, sfx, rows["units"], rows["curves"], rows["inputs"], rows["gs"])
    md = _markdown(sfx, meta["runs"], rows["units"], rows["inputs"], rows["gs"])
    written.append(atomic_write_text(out / f"attribution_stability{sfx}.md", md + "\n"))
    return written


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke-test sizes (LeNet only, ~1-2 min)")
    ap.add_argument("--models", default=None,
                    help="comma-separated zoo names (default: the MNIST models set up); a "
                         "fashion_NAME model runs with NAME's settings on Fashion-MNIST")
    ap.add_argument("--seeds", default=None, help="comma-separated seeds (default 0,1,2; quick: 0)")
    ap.add_argument("--out", default=None, help="output folder (default benchmarks/results)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--report", action="store_true",
                    help="only rewrite the markdown and plots from the CSV files in --out")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    models = args.models.split(",") if args.models else None
    seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else None
    cmd = "python benchmarks/attribution_stability.py " + " ".join(argv if argv is not None else sys.argv[1:])
    paths = (report(args.out, args.quick) if args.report
             else run(args.quick, args.out, models, seeds, command=cmd.strip()))
    for p in paths:
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
