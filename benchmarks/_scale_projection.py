"""The scale benchmark's tables, plot and cost projection (:mod:`benchmarks.scale` measures).

The projection multiplies measured figures, nothing else:

* ``unit_image_ms``: one unit-image intervention forward, measured per model at 224 px here;
* the number of units of the model (measured by unit discovery);
* the parallel efficiency of the 2-rank distributed build measured in the same run
  (``scale_ranks.json``), applied at every rank count (an assumption: gloo's gather is once per
  layer, so it should hold or improve as layers get wider; it is not measured beyond 2 ranks);
* the calibration size: ImageNet's 1000 classes x causalnet's default 20 images per class.

ViT-B/16 is not in the measured set (its random-weight build here would take hours); its row
scales the measured cost of the nearest measured ViT by the published FLOPs ratio (ViT-S/16:
17.6 / 4.6 GFLOPs; DeiT-tiny where ViT-S was not run: 17.6 / 1.3) and counts its units as 12
blocks x (12 heads + 3072 MLP neurons). Both are stated in the table.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from causalnet.fileio import atomic_write_text

IMAGENET_CALIBRATION = 1000 * 20
RANKS = (1, 8, 64)
VIT_B_UNITS = 12 * (12 + 3072)
VIT_B_GFLOPS = 17.6
VIT_GFLOPS = {"vit_small": 4.6, "deit_tiny": 1.3}   # published, 224 px


def _rows(out: Path) -> list[dict]:
    path = out / "scale.csv"
    if not path.is_file():
        return []
    with path.open() as f:
        return list(csv.DictReader(f))


def projection(rows: list[dict], efficiency: float | None) -> list[dict]:
    """Hours of the exact global-effects sweep (every unit x every calibration image) on 1, 8
    and 64 ranks of this machine's per-thread speed."""
    by = {r["model"]: r for r in rows}
    targets = []
    if "resnet50" in by:
        targets.append(("ResNet-50 (measured cost)", int(by["resnet50"]["units"]),
                        float(by["resnet50"]["unit_image_ms"])))
    base = next((m for m in VIT_GFLOPS if m in by), None)
    if base is not None:
        ratio = VIT_B_GFLOPS / VIT_GFLOPS[base]
        targets.append((f"ViT-B/16 ({base} cost x {ratio:.1f} FLOPs)", VIT_B_UNITS,
                        float(by[base]["unit_image_ms"]) * ratio))
    out = []
    for name, units, ms in targets:
        hours1 = units * IMAGENET_CALIBRATION * ms / 1000 / 3600
        row = {"model": name, "units": units, "unit_image_ms": round(ms, 2), "hours_1": round(hours1, 1)}
        for n in RANKS[1:]:
            row[f"hours_{n}"] = round(hours1 / (n * efficiency), 1) if efficiency else None
        out.append(row)
    return out


def write_report(out: Path) -> None:
    rows = _rows(out)
    ranks_path = out / "scale_ranks.json"
    ranks = json.loads(ranks_path.read_text()) if ranks_path.is_file() else {}
    if "one_rank_s" in ranks:   # a file from before the exact check: its one entry is --fast
        ranks = {"fast": {"build": "--fast", **ranks}}
    # the projection is of the exact sweep, so it uses the exact sweep's efficiency where measured
    basis = ranks.get("exact") or ranks.get("fast")
    eff = basis["efficiency"] if basis else None
    lines = ["# Real-size models at 224 px (random weights, 3 classes)", "",
             "`python benchmarks/scale.py`; every phase is a `causalnet` subprocess on this 2-core "
             "machine, 1 torch thread, timed, with its peak resident memory (`os.wait4`). Random "
             "weights (nothing can be downloaded here) with BatchNorm statistics from the image pool "
             "and the classifier centred so the three classes split it; the images (random crops of "
             "scikit-image's photos) are labelled by the model's own predictions. This measures "
             "time and memory, not explanations.", ""]
    if rows:
        r0 = rows[0]
        lines += [f"Settings: `build --fast --samples {r0['samples']} --calibration {r0['calibration']}` "
                  "(per class), `prune --target-params 0.3 --rescore-every 0 --max-drop 100` (tolerance off: "
                  "random weights lose accuracy to any removal, and the point is the time of a plan that "
                  "reaches its target), `render`, `audit`.", "",
                  "| model | units | unit layers | build s | build peak MB | prune s | prune peak MB | "
                  "params removed | prune exit | render s | audit s | forward ms/img | unit-image ms | edges |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in rows:
            lines.append(f"| {r['spec']} | {r['units']} | {r['unit_layers']} | {r['build_s']} | "
                         f"{r['build_peak_mb']} | {r['prune_s']} | {r['prune_peak_mb']} | {r['prune_removed']} | "
                         f"{r['prune_exit']} | {r['render_s']} | {r['audit_s']} | {r['forward_ms_per_image']} | "
                         f"{r['unit_image_ms']} | {r['graph_edges']} |")
        lines += ["", "With the default tolerance instead, ResNet-18's prune stopped at once (its first "
                  "unit flips 5 of the 24 calibration images, 20.8 points > the 4.17-point tolerance, "
                  "one image) and exited 3 with what to change (`scale_default_tolerance.log`).", ""]
    if ranks:
        lines += ["## Two ranks (torchrun, gloo, 1 thread each) against one process", "",
                  "| build | model | 1 process s | 2 ranks s | speed-up | efficiency | graph files byte-identical |",
                  "|---|---|---:|---:|---:|---:|---|"]
        for r in ranks.values():
            lines.append(f"| {r['build']} | {r['model']} | {r['one_rank_s']} | {r['two_ranks_s']} | "
                         f"{r['speedup']}x | {r['efficiency']:.0%} | {r['identical']} |")
        lines += ["", "Every rank runs the first-order screen of `--fast` and its own start-up (imports, "
                  "model load, unit discovery); only the exact blocks of units and the class walks are "
                  "shared out, so a `--fast` build of a model whose screen rules out most units gains "
                  "little from a second rank. The exact sweep is the work the projection below scales."
                  + ("" if "exact" in ranks else " Its 2-rank run was not measured yet; the projection "
                     "uses the `--fast` efficiency, a pessimistic stand-in."), ""]
    proj = projection(rows, eff)
    if proj:
        lines += ["## Projection: exact global effects on an ImageNet-size calibration set", "",
                  f"Every unit x {IMAGENET_CALIBRATION:,} calibration images (1000 classes x 20), at the "
                  "measured unit-image cost of one CPU thread here, divided over N ranks at the "
                  f"measured 2-rank efficiency ({eff:.0%}, {basis['build']} build), assumed to hold "
                  "at N ranks (not measured past 2 here)." if eff else "", "",
                  "| model | units | unit-image ms | hours, 1 rank | hours, 8 ranks | hours, 64 ranks |",
                  "|---|---:|---:|---:|---:|---:|"]
        for p in proj:
            lines.append(f"| {p['model']} | {p['units']} | {p['unit_image_ms']} | {p['hours_1']} | "
                         f"{p.get('hours_8')} | {p.get('hours_64')} |")
        lines += ["", "GPUs: `build --device cuda` and `prune --device cuda` put the model, the images and "
                  "the intervention engines on the GPU. The engine's device handling is tested in the "
                  "suite on fake CUDA tensors (`tests/causalnet/test_devices.py`: shapes and devices, "
                  "no values, no backward); nothing has run on a real GPU, since no accelerator was "
                  "lent to this task, so no GPU per-forward cost is measured and no GPU row is "
                  "projected: `python benchmarks/device_check.py --device cuda` measures it, with the "
                  "GPU-against-CPU agreement of a graph and a prune, where one is. A GPU's hours are "
                  "these divided by its speed-up per unit-image forward over one CPU thread. `--fast` runs exact "
                  "interventions only on the units the first-order screen cannot rule out, so the "
                  "sweep above is its upper bound; the class walks add, per class, the tested units x "
                  "its N inputs.", ""]
    atomic_write_text(out / "scale.md", "\n".join(lines) + "\n")
    if rows:
        _plot(rows, out / "scale.png")


def _plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    names = [r["model"] for r in rows]
    phases = ("build", "prune", "render", "audit")
    bottom = [0.0] * len(rows)
    for ph in phases:
        vals = [float(r[f"{ph}_s"]) for r in rows]
        axes[0].bar(names, vals, bottom=bottom, label=ph)
        bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
    axes[0].set_ylabel("wall seconds (1 thread)")
    axes[0].legend(fontsize=8)
    axes[0].tick_params(axis="x", rotation=30, labelsize=8)
    axes[1].bar(names, [max(float(r[f"{ph}_peak_mb"]) for ph in phases) for r in rows])
    axes[1].set_ylabel("peak resident MB (largest phase)")
    axes[1].tick_params(axis="x", rotation=30, labelsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
