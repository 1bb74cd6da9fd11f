"""Real-size models at 224 px: units, wall time and peak memory of every phase, the cost of one
unit-image forward, and the efficiency of a 2-rank distributed build.

For each model of :data:`MODELS` (random weights: nothing can be downloaded here):

1. **prepare** (in this process): the model with ``num_classes=3``, its BatchNorm statistics
   set from the image pool (cumulative averages over a few batches, so activations have
   realistic scales), the classifier bias centred so that the three logits split the pool; the
   pool (random 224-px crops and flips of scikit-image's photos) is then written to a folder
   labelled by the model's own predictions, so every image is "correctly classified" and the
   class walks have inputs. This measures time and memory, not accuracy.
2. **phases** (each a ``causalnet`` subprocess, timed, its peak resident memory from
   ``os.wait4``): ``build --fast`` (3 classes, ``--samples`` inputs per class,
   ``--calibration`` images per class), ``prune --target-params 0.3 --rescore-every 0
   --max-drop 100`` (the graph's scores, no re-scoring sweep, tolerance off: the time of a plan
   that reaches its target; random weights lose accuracy to any removal), ``render``, ``audit``.
3. **per-forward cost** (in this process): median seconds of one unit-image intervention forward
   (``InterventionEngine.ablate`` on 4 units of the middle unit layer, 8 images), against the
   clean forward of the same 8 images: the figure the projection uses.

Then the 2-rank check on the smallest model: the same ``build --fast`` under
``torchrun --nproc-per-node 2`` (each rank 1 thread) against one process with 1 thread, both
in this run: speed-up and efficiency (speed-up / 2), and whether the files are byte-identical.

Writes ``scale.csv``, ``scale.md`` and ``scale.png`` under ``benchmarks/results/`` (or --out),
the projection included (:mod:`benchmarks._scale_projection`). Rows are appended as they are
produced and a rerun skips models already measured.

Run: ``python benchmarks/scale.py [--models resnet18 deit_tiny] [--samples 6] [--calibration 4]``
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from causalnet.fileio import atomic_write_text

RESULTS = Path(__file__).resolve().parent / "results"
MODELS = {
    "resnet18": "torchvision:resnet18",
    "resnet50": "torchvision:resnet50",
    "mobilenet_v3_small": "torchvision:mobilenet_v3_small",
    "deit_tiny": "timm:deit_tiny_patch16_224",
    "vit_small": "timm:vit_small_patch16_224",
}
CLASSES = 3
FIELDS = ("model", "spec", "units", "unit_layers", "build_s", "build_peak_mb", "prune_s", "prune_peak_mb",
          "prune_removed", "prune_exit", "render_s", "render_peak_mb", "audit_s", "audit_peak_mb",
          "forward_ms_per_image", "unit_image_ms", "graph_edges", "samples", "calibration", "threads")


def _photos() -> list[np.ndarray]:
    from skimage import data as skdata

    names = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry",
             "motorcycle_left", "colorwheel", "retina", "cat")
    out = []
    for name in names:
        try:
            img = getattr(skdata, name)()
        except Exception:   # some photos need an optional download; skip those
            continue
        if img.ndim == 3 and img.shape[2] >= 3:
            out.append(img[..., :3])
    if not out:
        raise SystemExit("scikit-image ships no colour photos here; pip install scikit-image")
    return out


def image_pool(n: int, seed: int = 0) -> torch.Tensor:
    """``n`` uint8 images (n, 3, 224, 224): random crops (40-100% of the shorter side), resized,
    randomly flipped, of scikit-image's photos."""
    import torch.nn.functional as F

    g = torch.Generator().manual_seed(seed)
    photos = [torch.from_numpy(np.ascontiguousarray(p)).permute(2, 0, 1).float() for p in _photos()]
    out = []
    for i in range(n):
        p = photos[i % len(photos)]
        h, w = p.shape[1:]
        side = int(min(h, w) * (0.4 + 0.6 * torch.rand(1, generator=g).item()))
        y0 = int(torch.randint(0, h - side + 1, (1,), generator=g))
        x0 = int(torch.randint(0, w - side + 1, (1,), generator=g))
        crop = F.interpolate(p[None, :, y0:y0 + side, x0:x0 + side], size=(224, 224), mode="bilinear",
                             align_corners=False)[0]
        if torch.rand(1, generator=g).item() < 0.5:
            crop = crop.flip(-1)
        out.append(crop.clamp(0, 255).to(torch.uint8))
    return torch.stack(out)


def normalise(images: torch.Tensor) -> torch.Tensor:
    """As the folder reader does: [0, 1], ImageNet mean and std."""
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    return (images.float() / 255 - mean) / std


def prepare(spec: str, folder: Path, weights: Path, n_images: int, seed: int = 0) -> dict:
    """Random weights with BatchNorm statistics from the pool and a centred classifier; the
    pool written to ``folder`` by predicted class. Returns the class counts."""
    from PIL import Image
    from safetensors.torch import save_file

    from causalnet.models import load_model

    torch.manual_seed(seed)
    model = load_model(f"{spec}?num_classes={CLASSES}")
    pool = image_pool(n_images, seed)
    x = normalise(pool)
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if bns:
        for m in bns:
            m.reset_running_stats()
            m.momentum = None           # cumulative average over the batches below
        model.train()
        with torch.no_grad():
            for batch in x.split(16):
                model(batch)
    model.eval()
    head = [m for m in model.modules() if isinstance(m, nn.Linear) and m.out_features == CLASSES][-1]
    with torch.no_grad():
        logits = torch.cat([model(b) for b in x.split(16)])
        if head.bias is not None:   # centre each logit on its median so the classes split the pool
            head.bias -= logits.median(0).values
            logits = torch.cat([model(b) for b in x.split(16)])
    pred = logits.argmax(1)
    for c in range(CLASSES):
        (folder / f"class_{c}").mkdir(parents=True, exist_ok=True)
    for i, (img, c) in enumerate(zip(pool, pred.tolist(), strict=True)):
        Image.fromarray(img.permute(1, 2, 0).numpy()).save(folder / f"class_{c}" / f"img_{i:03d}.png")
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(weights))
    return {c: int((pred == c).sum()) for c in range(CLASSES)}


def timed(cmd: list[str], *, env: dict | None = None, cwd: Path | None = None) -> tuple[float, float, int, str]:
    """Run ``cmd``; (wall seconds, peak resident MB of the process tree's largest member, exit
    status, last lines of its output)."""
    start = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         env={**os.environ, **(env or {})}, cwd=cwd)
    out_text = p.stdout.read()
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    return (time.perf_counter() - start, usage.ru_maxrss / 1024, p.returncode,
            "\n".join(out_text.strip().splitlines()[-3:]))


def unit_forward_cost(model_spec: str, n: int = 8, repeats: int = 3) -> tuple[float, float]:
    """(ms per image of a clean forward, ms per unit-image intervention forward), medians."""
    from causalnet.interventions import Ablation, InterventionEngine
    from causalnet.models import load_model
    from causalnet.units import discover_units

    model = load_model(model_spec).eval()
    x = normalise(image_pool(n, seed=1))
    units = discover_units(model, x[:1])
    layer = units.layers[len(units.layers) // 2]
    engine = InterventionEngine(model, units, x, ablation=Ablation("zero"))
    cut = range(min(4, layer.size))  # a ViT's attention layer may hold only 3 heads
    clean, inter = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        with torch.inference_mode():
            model(x)
        clean.append((time.perf_counter() - t) * 1000 / n)
        t = time.perf_counter()
        engine.ablate(layer, cut)
        inter.append((time.perf_counter() - t) * 1000 / (len(cut) * n))
    return statistics.median(clean), statistics.median(inter)


def _pool_size(samples: int, calibration: int) -> int:
    """Images to draw for a model's folder: enough for every class's samples and calibration."""
    return max(CLASSES * 3 * (samples + calibration), 48)


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "causalnet", *args]


def measure_model(name: str, work: Path, samples: int, calibration: int, threads: int) -> dict:
    spec = MODELS[name]
    folder, weights = work / f"{name}_images", work / f"{name}.safetensors"
    n_images = _pool_size(samples, calibration)
    counts = prepare(spec, folder, weights, n_images)
    print(f"{name}: images per predicted class {counts}", flush=True)
    model_spec = f"{spec}?num_classes={CLASSES}@{weights}"
    data = f"folder:{folder}?size=224"
    env = {"OMP_NUM_THREADS": str(threads)}
    graph = work / f"{name}.json"
    common = ["--threads", str(threads), "-q"]
    b_s, b_mb, b_rc, b_out = timed(_cli("build", "--model", model_spec, "--data", data, "--fast",
                                        "--samples", str(samples), "--calibration", str(calibration),
                                        "--out", str(graph), *common), env=env)
    if b_rc != 0:
        raise RuntimeError(f"{name}: build failed:\n{b_out}")
    print(f"{name}: build {b_s:.0f} s, {b_mb:.0f} MB: {b_out}", flush=True)
    summary = json.loads(graph.read_text())
    g_units = sum(1 for nd in summary["nodes"] if nd.get("kind") != "logit" and "layer" in nd)
    n_layers = len(summary["graph"].get("layers", []))
    pruned = work / f"{name}_pruned"
    p_s, p_mb, p_rc, p_out = timed(_cli("prune", "--model", model_spec, "--graph", str(graph), "--data", data,
                                        "--target-params", "0.3", "--rescore-every", "0", "--max-drop", "100",
                                        "--calibration", str(calibration), "--out", str(pruned), *common),
                                   env=env)
    removed = ""
    if (pruned / "report.json").is_file():
        rep = json.loads((pruned / "report.json").read_text())
        removed = f"{1 - rep['after']['params'] / rep['before']['params']:.3f}"
    print(f"{name}: prune {p_s:.0f} s, {p_mb:.0f} MB, exit {p_rc}: {p_out}", flush=True)
    r_s, r_mb, r_rc, r_out = timed(_cli("render", str(graph), "--out", str(work / f"{name}.png")), env=env)
    a_s, a_mb, a_rc, a_out = timed(_cli("audit", str(graph), "--out", str(work / f"{name}_audit.md")), env=env)
    if r_rc or a_rc:
        raise RuntimeError(f"{name}: render/audit failed:\n{r_out}\n{a_out}")
    torch.set_num_threads(threads)
    fwd_ms, unit_ms = unit_forward_cost(model_spec)
    return {"model": name, "spec": spec, "units": g_units, "unit_layers": n_layers,
            "build_s": round(b_s, 1), "build_peak_mb": round(b_mb), "prune_s": round(p_s, 1),
            "prune_peak_mb": round(p_mb), "prune_removed": removed, "prune_exit": p_rc,
            "render_s": round(r_s, 1), "render_peak_mb": round(r_mb), "audit_s": round(a_s, 1),
            "audit_peak_mb": round(a_mb), "forward_ms_per_image": round(fwd_ms, 2),
            "unit_image_ms": round(unit_ms, 2), "graph_edges": len(summary["edges"]),
            "samples": samples, "calibration": calibration, "threads": threads}


def measure_ranks(name: str, work: Path, samples: int, calibration: int, *, fast: bool = True) -> dict:
    """The same build (``--fast``, or exact global effects for every unit) with 1 process (1
    thread) and under torchrun with 2 ranks (1 thread each): wall times, speed-up, efficiency,
    byte identity."""
    spec = MODELS[name]
    weights, folder = work / f"{name}.safetensors", work / f"{name}_images"
    if not weights.is_file() or not folder.is_dir():   # a fresh work folder: same inputs as the row
        prepare(spec, folder, weights, _pool_size(samples, calibration))
    model_spec = f"{spec}?num_classes={CLASSES}@{weights}"
    args = ["build", "--model", model_spec, "--data", f"folder:{folder}?size=224",
            *(["--fast"] if fast else []),
            "--samples", str(samples), "--calibration", str(calibration), "--threads", "1", "-q"]
    env = {"OMP_NUM_THREADS": "1"}
    tag = "fast" if fast else "exact"
    one, two = work / f"{name}_{tag}_r1.json", work / f"{name}_{tag}_r2.json"
    s1, _, rc1, out1 = timed(_cli(*args, "--out", str(one)), env=env)
    s2, _, rc2, out2 = timed([sys.executable, "-m", "torch.distributed.run", "--standalone",
                              "--nproc-per-node", "2", "-m", "causalnet", *args, "--out", str(two)], env=env)
    if rc1 or rc2:
        raise RuntimeError(f"rank check failed:\n{out1}\n{out2}")
    return {"model": name, "build": "--fast" if fast else "exact", "one_rank_s": round(s1, 1),
            "two_ranks_s": round(s2, 1),
            "speedup": round(s1 / s2, 3), "efficiency": round(s1 / s2 / 2, 3),
            "identical": one.read_bytes() == two.read_bytes()}


def main() -> None:
    from benchmarks._scale_projection import write_report

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    ap.add_argument("--samples", type=int, default=6)
    ap.add_argument("--calibration", type=int, default=4)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--ranks-model", default="mobilenet_v3_small", choices=list(MODELS))
    ap.add_argument("--no-ranks", action="store_true", help="skip the 2-rank check")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--work", type=Path, default=Path("/tmp/causalnet_scale"))
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    args.work.mkdir(parents=True, exist_ok=True)
    path = args.out / "scale.csv"
    done = {}
    if path.is_file():
        with path.open() as f:
            done = {r["model"]: r for r in csv.DictReader(f)}
    for name in args.models:
        if name in done:
            continue
        row = measure_model(name, args.work, args.samples, args.calibration, args.threads)
        done[name] = row
        rows = [done[m] for m in MODELS if m in done]
        text = ",".join(FIELDS) + "\n" + "".join(",".join(str(r[k]) for k in FIELDS) + "\n" for r in rows)
        atomic_write_text(path, text)
    ranks_path = args.out / "scale_ranks.json"
    ranks = json.loads(ranks_path.read_text()) if ranks_path.is_file() else {}
    if "one_rank_s" in ranks:   # a file from before the exact check: its one entry is --fast
        ranks = {"fast": {"build": "--fast", **ranks}}
    for key, fast in (("fast", True), ("exact", False)):
        if not args.no_ranks and key not in ranks:
            ranks[key] = measure_ranks(args.ranks_model, args.work, args.samples, args.calibration,
                                       fast=fast)
            atomic_write_text(ranks_path, json.dumps(ranks, indent=1) + "\n")
            print(ranks[key], flush=True)
    write_report(args.out)


if __name__ == "__main__":
    main()
