"""``--device``: the same graph and the same pruned model on a GPU as on the CPU, and what a
unit-image intervention forward costs there. One short script, for a lent GPU machine.

1. **agreement** (in this process): a zoo model (default ``fashion_resnet20``) on its data; the
   graph built with :class:`causalnet.GraphBuilder` on the CPU and on ``--device`` (same seed,
   images and settings): per unit layer the largest difference of the global effects' mean
   log-ratio and of their p-values, whether the same units are significant, and per class the
   Jaccard index of the kept node sets; then :func:`pruning.prune` with L1 and C-SWAP to 30% of
   the parameters on both: whether the removal is the same, and the test accuracy of each.
2. **cost**: median milliseconds of one unit-image intervention forward
   (``InterventionEngine.ablate`` on 4 units of the middle unit layer, ``--images`` images)
   of torchvision's ResNet-50 at 224 px (random weights), on the CPU with every thread and on
   ``--device``: the ratio is what the projection in ``scale.md`` divides the CPU hours by.
3. **sweep**: the exact global effects of that ResNet-50 (``--sweep-model``) on
   ``--sweep-calibration`` images per class (every
   unit, no class graphs) on ``--device``, timed end to end (model copy, unit discovery,
   engine, every block).

Run: ``python benchmarks/device_check.py --device cuda [--model fashion_resnet20]``; writes
``device_check.{csv,md}`` under ``benchmarks/results/`` (or ``--out``). ``--device cpu``
checks the script itself on a machine without a GPU (every difference is then 0).
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

import numpy as np  # noqa: E402
import torch  # noqa: E402

from benchmarks._common import RESULTS  # noqa: E402
from causalnet.fileio import atomic_write_text  # noqa: E402

FIELDS = ("check", "item", "cpu", "device", "difference", "note")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def agreement(model_name: str, device: torch.device, samples: int, calibration: int,
              eval_images: int) -> list[dict]:
    from causalnet.builder import BuildSettings, GraphBuilder
    from causalnet.data import calibration_set, load_data
    from causalnet.evaluate import accuracy
    from causalnet.zoo import load_zoo_model, zoo_entry
    from pruning.api import prune

    model = load_zoo_model(model_name).eval()
    data = load_data(zoo_entry(model_name).recipe.dataset)
    settings = BuildSettings(samples_per_class=samples, calibration_per_class=calibration)
    rows: list[dict] = []
    graphs, seconds = {}, {}
    for where in ("cpu", device):
        t = time.perf_counter()
        graphs[str(where)] = GraphBuilder(model, settings, device=where).build(data)
        seconds[str(where)] = time.perf_counter() - t
    g_cpu, g_dev = graphs["cpu"], graphs[str(device)]
    rows.append(dict(check="build", item="seconds", cpu=seconds["cpu"], device=seconds[str(device)],
                     difference=seconds[str(device)] / seconds["cpu"], note="device / cpu"))
    for layer in g_cpu.layer_names():
        a = [g_cpu.node(n) for n in g_cpu.units(layer)]
        b = [g_dev.node(n) for n in g_dev.units(layer)]
        xi_a, xi_b = np.array([n["xi"] for n in a]), np.array([n["xi"] for n in b])
        p_a, p_b = np.array([n["p_value"] for n in a]), np.array([n["p_value"] for n in b])
        same = sum(n["category"] == m["category"] for n, m in zip(a, b, strict=True))
        rows.append(dict(check="global effects", item=layer, cpu=float(np.abs(xi_a).max()),
                         device=float(np.abs(xi_b).max()), difference=float(np.abs(xi_a - xi_b).max()),
                         note=f"max |xi| and max |xi diff|; max |p diff| {float(np.abs(p_a - p_b).max()):.2e}; "
                              f"same category {same}/{len(a)}"))
    for c in g_cpu.classes():
        a, b = set(g_cpu.causes_of(c)), set(g_dev.causes_of(c))
        jac = len(a & b) / len(a | b) if a | b else 1.0   # two empty graphs agree
        rows.append(dict(check="class graph", item=f"class {c}", cpu=len(a), device=len(b),
                         difference=1 - jac, note=f"units kept; 1 - Jaccard ({jac:.3f})"))
    x_eval, y_eval = calibration_set(data.eval, max(1, eval_images // 10), seed=0)
    for method in ("l1", "cswap"):
        out = {}
        for where in ("cpu", device):
            t = time.perf_counter()
            pruned, plan, _ = prune(model, data, graph=g_cpu if method == "cswap" else None, method=method,
                                    target_params=0.3, device=where)
            out[str(where)] = (plan["removal"], accuracy(pruned, (x_eval, y_eval)), time.perf_counter() - t)
        (rm_a, acc_a, s_a), (rm_b, acc_b, s_b) = out["cpu"], out[str(device)]
        rows.append(dict(check=f"prune {method} 30%", item="test accuracy", cpu=acc_a, device=acc_b,
                         difference=acc_b - acc_a,
                         note=f"same removal: {rm_a == rm_b}; plan s cpu {s_a:.1f}, device {s_b:.1f}"))
    return rows


def unit_cost(device: torch.device, images: int, repeats: int = 5) -> list[dict]:
    from benchmarks.scale import image_pool, normalise
    from causalnet.interventions import Ablation, InterventionEngine
    from causalnet.models import load_model
    from causalnet.units import discover_units

    x = normalise(image_pool(images, seed=1))
    rows = []
    ms = {}
    for where in ("cpu", device):
        torch.manual_seed(0)
        model = load_model("torchvision:resnet50?num_classes=3").eval().to(where)
        units = discover_units(model, x[:1].to(where))
        layer = units.layers[len(units.layers) // 2]
        engine = InterventionEngine(model, units, x, ablation=Ablation("zero"))
        cut = list(range(4))
        engine.ablate(layer, cut)          # warm-up (kernels, caches)
        times = []
        for _ in range(repeats):
            _sync(torch.device(where))
            t = time.perf_counter()
            engine.ablate(layer, cut)
            _sync(torch.device(where))
            times.append((time.perf_counter() - t) * 1000 / (len(cut) * images))
        ms[str(where)] = statistics.median(times)
    rows.append(dict(check="unit-image forward ms", item=f"resnet50 224px, {images} images",
                     cpu=ms["cpu"], device=ms[str(device)], difference=ms["cpu"] / ms[str(device)],
                     note=f"cpu / device; cpu with {torch.get_num_threads()} threads"))
    return rows


def sweep(device: torch.device, calibration: int, spec: str) -> list[dict]:
    from benchmarks.scale import image_pool, normalise
    from causalnet.builder import BuildSettings, GraphBuilder
    from causalnet.models import load_model

    torch.manual_seed(0)
    model = load_model(f"{spec}?num_classes=3").eval()
    x = normalise(image_pool(3 * calibration, seed=2))
    y = torch.arange(3).repeat_interleave(calibration)
    settings = BuildSettings(calibration_per_class=calibration, class_graphs=False)
    t = time.perf_counter()
    graph = GraphBuilder(model, settings, device=device).build((x, y))
    seconds = time.perf_counter() - t
    units = graph.summary()["units"]
    return [dict(check="global-effects sweep", item=f"{spec} 224px, {len(y)} images", cpu="",
                 device=seconds, difference=seconds * 1000 / (units * len(y)),
                 note=f"{units} units; difference = ms per unit-image on the device")]


def write(rows: list[dict], out: Path, device: torch.device) -> None:
    out.mkdir(parents=True, exist_ok=True)
    lines = []
    with open(out / "device_check.csv.tmp", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        w.writeheader()
        w.writerows(rows)
    (out / "device_check.csv.tmp").replace(out / "device_check.csv")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    lines += ["# --device against the CPU", "",
              f"`python benchmarks/device_check.py --device {device}`; device: {name}, torch "
              f"{torch.__version__}.", "", "| " + " | ".join(FIELDS) + " |", "|" + "---|" * len(FIELDS)]
    for r in rows:
        lines.append("| " + " | ".join(f"{r[k]:.4g}" if isinstance(r[k], float) else str(r[k])
                                       for k in FIELDS) + " |")
    atomic_write_text(out / "device_check.md", "\n".join(lines) + "\n")


def main() -> None:
    from causalnet.devices import resolve_device

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--model", default="fashion_resnet20", help="zoo model of the agreement check")
    ap.add_argument("--samples", type=int, default=20, help="class-walk inputs per class")
    ap.add_argument("--calibration", type=int, default=10, help="calibration images per class")
    ap.add_argument("--eval-images", type=int, default=2000)
    ap.add_argument("--images", type=int, default=8, help="images of the per-forward cost")
    ap.add_argument("--sweep-calibration", type=int, default=2,
                    help="calibration images per class (3 classes) of the ResNet-50 sweep; 0: skip it")
    ap.add_argument("--sweep-model", default="torchvision:resnet50", help="model spec of the sweep")
    ap.add_argument("--skip", nargs="*", default=(), choices=("agreement", "cost"))
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    device = resolve_device(args.device)
    rows: list[dict] = []
    if "agreement" not in args.skip:
        rows += agreement(args.model, device, args.samples, args.calibration, args.eval_images)
        write(rows, args.out, device)
    if "cost" not in args.skip:
        rows += unit_cost(device, args.images)
        write(rows, args.out, device)
    if args.sweep_calibration:
        rows += sweep(device, args.sweep_calibration, args.sweep_model)
    write(rows, args.out, device)
    for r in rows:
        print(", ".join(f"{k}={r[k]:.4g}" if isinstance(r[k], float) else f"{k}={r[k]}" for k in FIELDS))


if __name__ == "__main__":
    main()
