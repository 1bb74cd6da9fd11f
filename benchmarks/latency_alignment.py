"""Does CPU latency fall with MACs after structured pruning? Only when the widths kept suit the CPU.

oneDNN runs convolutions in blocks of the CPU's float32 vector width (16 channels with AVX-512,
8 with AVX2) and pads a layer up to whole blocks, so a layer cut from 64 to 53 channels costs
what 64 did (the measurements here fit that). This script prunes the zoo's ResNet-20 and VGG-11
(MobileNetV2 too with ``--models``) to a fraction of its parameters (or MACs) with C-SWAP
and with the strongest baselines, keeping any number of units per layer (``round_to`` none) or a
multiple of 8 or 16 (``--round-to``; ``auto`` picks the CPU's width), repairs with least
squares (default settings; C-SWAP with its 1-point tolerance, which may stop it short of
the level, and without it as ``cswap_notol``; ``cswap_fast``: its fast mode), and reports test accuracy,
the MACs ratio, the speed-up at batch 64 and their quotient (the C-SWAP issue's bar: at most 1.3).

Latency: the fastest of ``RUNS`` timed forwards after a warm-up (:func:`pruning.report.latency_ms`,
channels_last, 2 torch threads), a model's variants taking turns in each round; the planning
runs first, then every timing, so run it on a quiet machine.

    python benchmarks/latency_alignment.py [--models resnet20 vgg11_bn] [--level 0.5] [--budget macs]

writes ``latency_alignment[_fashion][_macs].{csv,md,png}`` (``_fashion`` for the Fashion-MNIST
zoo, ``_macs`` for ``--budget macs``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

import torch  # noqa: E402

from benchmarks._common import RESULTS, machine, markdown_table, read_csv, write_csv  # noqa: E402
from causalnet.fileio import atomic_write_text  # noqa: E402

MODELS = ("resnet20", "vgg11_bn", "mobilenetv2", "fashion_resnet20", "fashion_resnet56",
          "fashion_vgg11_bn", "fashion_mobilenetv2")
DEFAULT_MODELS = ("resnet20", "vgg11_bn")  # MobileNetV2's C-SWAP plans take ~15 min each here
METHODS = ("cswap", "cswap_notol", "l1", "lamp", "fpgm")  # cswap_notol: C-SWAP, tolerance off
# also accepted: cswap_fast, C-SWAP's fast mode (prune(screen=True))
ROUNDINGS = (None, 8, 16)
RUNS = 15
DATA_NAMES = {"mnist": "MNIST", "fashion": "Fashion-MNIST"}


def _latencies(models: list, input_shape, batch: int) -> list[float]:
    """Per model, the fastest of ``RUNS`` single timed forwards, the models taking turns in every
    round, so that a slow spell of the machine touches all of them alike."""
    from pruning.report import latency_ms

    best = [float("inf")] * len(models)
    for _ in range(RUNS):
        for i, model in enumerate(models):
            best[i] = min(best[i], latency_ms(model, input_shape, batch, repeats=1, warmup=1))
    return best


def run(models, methods, roundings, level: float, eval_images: int | None,
        budget: str = "params") -> list[dict]:
    from causalnet.data import load_data
    from causalnet.evaluate import accuracy, count_macs_params
    from causalnet.graph import CausalGraph
    from causalnet.models import load_model
    from causalnet.zoo import zoo_entry
    from pruning.api import prune

    def test_of(data):
        return data.eval if eval_images is None else (data.eval.images[:eval_images],
                                                      data.eval.targets[:eval_images])

    bundles = {name: load_data(zoo_entry(name).recipe.dataset) for name in models}
    shape = tuple(next(iter(bundles.values())).eval.images.shape[1:])
    pruned_models = []
    for name in models:
        data = bundles[name]
        model = load_model(f"zoo:{name}").eval()
        graph = CausalGraph.load(RESULTS / "graphs" / f"{name}.json")
        macs0, params0 = count_macs_params(model, shape)
        pruned_models.append((name, "unpruned", "-", model, macs0, params0, 0.0, "-"))
        for method in methods:
            for rt in roundings:
                start = time.perf_counter()
                causal = method.startswith("cswap")
                target = {f"target_{budget}": level}
                pruned, _, info = prune(model, data, graph=graph if causal else None,
                                        method="cswap" if causal else method, **target,
                                        round_to=rt, max_drop=float("inf") if method == "cswap_notol" else 1.0,
                                        screen=method == "cswap_fast")
                macs, params = count_macs_params(pruned, shape)
                print(f"{name} {method} round_to={rt}: {1 - params / params0:.3f} params, "
                      f"{1 - macs / macs0:.3f} MACs removed, "
                      f"{time.perf_counter() - start:.0f} s", flush=True)
                pruned_models.append((name, method, rt or "none", pruned, macs, params,
                                      time.perf_counter() - start, info["stopped"]))
    rows = []
    base: dict[str, tuple] = {}
    times = {}
    for name in models:
        group = [entry for entry in pruned_models if entry[0] == name]
        for b in (1, 64):
            for entry, ms in zip(group, _latencies([e[3] for e in group], shape, b), strict=True):
                times[(id(entry[3]), b)] = ms
    for name, method, rt, model, macs, params, seconds, stopped in pruned_models:
        acc = 100 * accuracy(model, test_of(bundles[name]))
        b1, b64 = times[(id(model), 1)], times[(id(model), 64)]
        if method == "unpruned":
            base[name] = (macs, params, b1, b64)
        m0, p0, l1, l64 = base[name]
        rows.append({"model": name, "method": method, "round_to": rt, "accuracy": round(acc, 2),
                     "params_removed": round(1 - params / p0, 3), "macs_removed": round(1 - macs / m0, 3),
                     "latency_b1_ms": round(b1, 3), "latency_b64_ms": round(b64, 2),
                     "macs_ratio": round(m0 / macs, 3), "speedup_b64": round(l64 / b64, 3),
                     "macs_ratio_over_speedup": round((m0 / macs) / (l64 / b64), 3),
                     "plan_s": round(seconds, 1), "stopped": stopped})
        print(rows[-1], flush=True)
    return rows


def with_earlier_rows(rows: list[dict], path: Path) -> tuple[list[dict], str]:
    """``rows`` joined by the rows of ``path`` for the models this run did not run (each model's
    rows come with its own unpruned timing, so a model's group stands alone), in ``MODELS``
    order; and a line that says which were kept."""
    ran = {r["model"] for r in rows}
    kept = [r for r in read_csv(path) if r["model"] not in ran]
    if not kept:
        return rows, ""
    order = {m: i for i, m in enumerate(MODELS)}
    merged = sorted(kept + rows, key=lambda r: order.get(r["model"], len(order)))
    return merged, (f"\nThe rows of {', '.join(sorted({r['model'] for r in kept}))} are kept from an "
                    "earlier run (this command did not run them).\n")


def dataset_of(models) -> str:
    """The one dataset the zoo ``models`` were trained on (its spec: ``mnist`` or ``fashion``)."""
    from causalnet.zoo import zoo_entry

    specs = sorted({zoo_entry(m).recipe.dataset.split(":")[0] for m in models})
    if len(specs) != 1:
        raise SystemExit(f"give models of one dataset per run (got {', '.join(specs)}): the "
                         "outputs are named after it")
    return specs[0]


def suffix(data: str, budget: str) -> str:
    """Output-name suffix: ``latency_alignment[_fashion][_macs]``."""
    return ("" if data == "mnist" else f"_{data}") + ("" if budget == "params" else f"_{budget}")


def report(rows: list[dict], level: float, eval_images: int | None, data: str = "mnist",
           budget: str = "params", command: str = "python benchmarks/latency_alignment.py") -> str:
    from pruning.report import cpu_vector_width

    shown = [{"model": r["model"], "method": r["method"], "round to": r["round_to"],
              "test acc %": r["accuracy"], "params removed": r["params_removed"],
              "MACs ratio": f"x{r['macs_ratio']:.2f}", "speed-up (64)": f"x{r['speedup_b64']:.2f}",
              "MACs ratio / speed-up": f"{r['macs_ratio_over_speedup']:.2f}",
              "batch 64 ms": r["latency_b64_ms"], "batch 1 ms": r["latency_b1_ms"],
              "stopped": r["stopped"]} for r in rows]
    met = [r for r in rows if r["method"] != "unpruned" and r["macs_ratio_over_speedup"] <= 1.3]
    named = sorted({f"{r['model']} {r['method']} round_to={r['round_to']}" for r in met})
    return "\n\n".join([
        "# Latency against MACs: the widths kept decide",
        f"Every CNN of the zoo pruned to {level:.0%} of its {'parameters' if budget == 'params' else 'MACs'} "
        f"removed, lsq repair, no fine-tuning; accuracy on "
        f"{'all 10,000' if eval_images is None else eval_images} {DATA_NAMES.get(data, data)} test "
        f"images. Latency: fastest of {RUNS} forwards (a model's variants timed in turn), channels_last, {machine()}, CPU capability "
        f"{torch.backends.cpu.get_cpu_capability()} (`--round-to auto` = {cpu_vector_width()} here). "
        "The C-SWAP issue's bar: MACs ratio / speed-up at batch 64 at most 1.3.",
        markdown_table(shown),
        f"Rows meeting the bar: {len(met)} of {sum(r['method'] != 'unpruned' for r in rows)} "
        f"({', '.join(named) or 'none'}).",
        f"Command: `{command}`"])


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 5))
    marks = {"none": "o", "8": "s", "16": "^"}
    for r in rows:
        if r["method"] == "unpruned":
            continue
        ax.scatter(r["macs_ratio"], r["speedup_b64"], marker=marks.get(str(r["round_to"]), "x"),
                   color="C0" if r["method"].startswith("cswap") else "C1")
    top = max(r["macs_ratio"] for r in rows) * 1.05
    ax.plot([1, top], [1, top], "k--", lw=1, label="speed-up = MACs ratio")
    ax.plot([1, top], [1 / 1.3, top / 1.3], "r:", lw=1, label="bar (ratio 1.3)")
    for k, m in marks.items():
        ax.scatter([], [], marker=m, color="gray", label=f"round_to {k}")
    ax.scatter([], [], color="C0", label="C-SWAP")
    ax.scatter([], [], color="C1", label="baselines")
    ax.set_xlabel("MACs ratio (unpruned / pruned)")
    ax.set_ylabel("speed-up at batch 64")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _rounding(text: str) -> int | None:
    """``none``, or what ``causalnet prune --round-to`` accepts (a positive integer, ``auto``)."""
    import argparse

    from pruning.cli import _round_to

    if text == "none":
        return None
    try:
        return _round_to(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected 'none', a positive integer or 'auto', got {text!r}") from None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", choices=MODELS, default=list(DEFAULT_MODELS))
    ap.add_argument("--methods", nargs="+", default=list(METHODS))
    ap.add_argument("--level", type=float, default=0.5, help="fraction removed (default 0.5)")
    ap.add_argument("--budget", choices=("params", "macs"), default="params",
                    help="what --level is a fraction of (default params)")
    ap.add_argument("--eval-images", type=int, default=None, help="test images (default: all 10,000)")
    ap.add_argument("--round-to", nargs="+", type=_rounding, default=None, metavar="none|N|auto",
                    help="the roundings compared (default: none 8 16); auto is the CPU's vector width")
    args = ap.parse_args(argv)
    roundings = ROUNDINGS if args.round_to is None else tuple(dict.fromkeys(args.round_to))
    torch.set_num_threads(min(2, torch.get_num_threads()))
    data = dataset_of(args.models)
    stem = "latency_alignment" + suffix(data, args.budget)
    rows = run(args.models, args.methods, roundings, args.level, args.eval_images, args.budget)
    command = "python benchmarks/latency_alignment.py " + " ".join(
        argv if argv is not None else sys.argv[1:])
    rows, note = with_earlier_rows(rows, RESULTS / f"{stem}.csv")
    write_csv(f"{stem}.csv", rows)
    atomic_write_text(RESULTS / f"{stem}.md",
                      report(rows, args.level, args.eval_images, data, args.budget, command.strip()) + "\n" + note)
    plot(rows, RESULTS / f"{stem}.png")
    print(f"wrote {RESULTS / (stem + '.md')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
