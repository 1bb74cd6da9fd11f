"""The pruning trade-off benchmark's plan: the zoo models, levels, repairs and jobs
(:mod:`benchmarks.pruning_tradeoff` runs them, :mod:`benchmarks._tradeoff_report` tabulates)."""

from __future__ import annotations

from dataclasses import dataclass, field

MODELS = ("lenet5", "resnet20", "vgg11_bn", "mobilenetv2", "vit_tiny")
# the zoo of each dataset the benchmark runs on (``--data``); a run takes the trained ones
ZOOS: dict[str, tuple[str, ...]] = {
    "mnist": MODELS,
    "fashion": ("fashion_lenet5", "fashion_resnet20", "fashion_resnet56", "fashion_vgg11_bn",
                "fashion_mobilenetv2", "fashion_vit_tiny"),
}
ALL_MODELS = tuple(m for zoo in ZOOS.values() for m in zoo)  # report order
LEVELS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
TP_LEVEL = round(1 - 1 / 2.11, 3)           # 2.11x fewer MACs = 52.6% of MACs removed
TP_PUBLISHED = "ResNet-56 / CIFAR-10, global L1, 2.11x fewer MACs: 93.5% -> 28.1% (no fine-tuning)"
# the pruner's default repair (least-squares reconstruction of the consumers), and none
REPAIRS = {"lsq": ("lsq",), "none": ()}
REPAIRED = "lsq"
NAMED_BASELINE = "l1"
FORCED = "cswap_notol"   # C-SWAP with the tolerance off, at the levels the default stopped short of
FAST = "cswap_fast"      # C-SWAP's fast mode (first-order screening of the re-scores)
CSWAP_RUNS = ("cswap", FORCED, FAST)   # C-SWAP's rows; every other method is a baseline
# the planner every committed C-SWAP row came from, pinned so that a change of the planner's
# defaults does not mix two planners in one table (re-run the whole table to move on): full
# re-scoring (every unit at every re-score, the default until lazy re-scoring replaced it) and
# units ranked by their mean harm (CswapIngredients.harm="mean", not its upper bound), each at its
# full cost however little is left to a level (finish="greedy", the default until 2026-12-08)
RESCORE = "full"
PLANNER = {"rescore": RESCORE, "harm": "mean", "finish": "greedy"}
LATENCY_RUNS = 15
FIELDS = ("model", "sweep", "target", "method", "repair", "seed", "eval_images", "status", "accuracy",
          "params", "macs", "params_removed", "macs_removed", "latency_b1_ms", "latency_b64_ms",
          "plan_s", "note")
KEY = ("model", "sweep", "target", "method", "repair", "seed", "eval_images")


@dataclass
class Job:
    """One model, one sweep, one calibration seed: C-SWAP and the baselines at ``levels``."""

    model: str
    sweep: str                          # "params" | "macs"
    seed: int
    levels: tuple[float, ...]
    methods: tuple[str, ...]            # "cswap" and baseline names
    eval_images: int | None             # None: the full test split
    latency_levels: tuple[float, ...] = ()
    latency_runs: int = LATENCY_RUNS
    cswap: dict = field(default_factory=dict)   # CswapSettings overrides (quick mode only)


def full_plan(models=MODELS, seeds: int = 3, data: str = "mnist") -> list[Job]:
    """The committed run, in order of priority (an interrupted run keeps the first jobs).
    ``data="fashion"``: :func:`fashion_plan`. On MNIST:

    1. every zoo model at 30/50/70% of parameters removed, seed 0, latency at each level (the
       C-SWAP issue's table);
    2. the other levels (10-80%) for LeNet-5 and ResNet-20, seed 0;
    3. the MACs sweep on ResNet-20 at 30%, 52.6% (Torch-Pruning's setting) and 70%;
    4. seeds 1 and 2 at 30/50/70% of parameters for every model;
    5. the other levels (10-80%) for the other models, seed 0;
    6. the MACs sweep at 10-80% for every model, seed 0;
    7. the other seeds at every level, parameters then MACs, cheapest model first.
    Every point on the full 10k test images (``EVAL_IMAGES``)."""
    from pruning.baselines import BASELINES

    if data != "mnist":
        return fashion_plan(models, seeds)
    methods = ("cswap", *BASELINES)
    short = (0.3, 0.5, 0.7)
    chosen = [m for m in MODELS if m in models]
    jobs = [Job(m, "params", 0, short, methods, EVAL_IMAGES[m], short) for m in chosen]
    jobs += [Job(m, "params", 0, LEVELS, methods, EVAL_IMAGES[m], (0.5,))
             for m in ("lenet5", "resnet20") if m in chosen]
    if "resnet20" in chosen:
        jobs.append(Job("resnet20", "macs", 0, (0.3, TP_LEVEL, 0.7), methods, EVAL_IMAGES["resnet20"],
                        (TP_LEVEL,)))
    jobs += [Job(m, "params", s, short, methods, EVAL_IMAGES[m]) for s in range(1, seeds) for m in chosen]
    jobs += [Job(m, "params", 0, LEVELS, methods, EVAL_IMAGES[m])
             for m in chosen if m not in ("lenet5", "resnet20")]
    jobs += [Job(m, "macs", 0, LEVELS, methods, EVAL_IMAGES[m]) for m in chosen]
    jobs += [Job(m, sweep, s, LEVELS, methods, EVAL_IMAGES[m])
             for m in chosen for sweep in ("params", "macs") for s in range(1, seeds)]
    return jobs


def all_methods() -> tuple[str, ...]:
    """Every method a trade-off job can run: C-SWAP, its fast mode and every baseline."""
    from pruning.baselines import BASELINES

    return ("cswap", FAST, *BASELINES)


def fashion_plan(models: tuple[str, ...], seeds: int = 3) -> list[Job]:
    """The Fashion-MNIST run, in order of priority (the pruning issue's headline first):

    1. every model at 30/50/70% of parameters removed, seed 0, latency at 50%;
    2. the same levels under a MACs budget, seed 0;
    3. seeds 1..seeds-1 at 30/50/70%, parameters and MACs;
    4. the other levels (10-80%), both budgets, seed 0;
    5. the other seeds at every level.
    Cheapest model first within each step; every point on the full 10k test images. C-SWAP runs
    twice: its default and its fast mode (``cswap_fast``)."""
    methods = all_methods()
    short = (0.3, 0.5, 0.7)
    chosen = [m for m in ZOOS["fashion"] if m in models]
    jobs = [Job(m, "params", 0, short, methods, None, (0.5,)) for m in chosen]
    jobs += [Job(m, "macs", 0, short, methods, None, (0.5,)) for m in chosen]
    jobs += [Job(m, sweep, s, short, methods, None)
             for s in range(1, seeds) for sweep in ("params", "macs") for m in chosen]
    jobs += [Job(m, sweep, 0, LEVELS, methods, None) for sweep in ("params", "macs") for m in chosen]
    jobs += [Job(m, sweep, s, LEVELS, methods, None)
             for s in range(1, seeds) for sweep in ("params", "macs") for m in chosen]
    return jobs


def plan_jobs(quick: bool = False, *, models: tuple[str, ...] | None = None, seeds: int = 3,
              sweeps: tuple[str, ...] | None = None, data: str = "mnist") -> list[Job]:
    """The jobs a run does: the quick or the full plan of ``data``'s zoo, narrowed to ``models``
    and ``sweeps``."""
    jobs = quick_plan() if quick else full_plan(models or ZOOS[data], seeds, data)
    return [j for j in jobs if (not models or j.model in models) and (not sweeps or j.sweep in sweeps)]


# test images per model (None: all 10,000); a fixed class-balanced subset otherwise
EVAL_IMAGES: dict[str, int | None] = {m: None for m in ALL_MODELS}


def quick_plan() -> list[Job]:
    """Smoke size: LeNet-5, two levels, three baselines, 500 test images."""
    return [Job("lenet5", "params", 0, (0.15, 0.3), ("cswap", "random", "l1", "taylor"), 500, (0.3,),
                latency_runs=3, cswap={"calibration_per_class": 10})]


# ---- the results file ------------------------------------------------------------------------
def _fmt_level(v: float) -> str:
    return f"{v:.3f}".rstrip("0").rstrip(".")


def _key(row: dict) -> tuple:
    return tuple(str(row[k]) for k in KEY)
