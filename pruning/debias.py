"""Debias a model from its causal graph: remove the units that carry a shortcut, no training.

(Formerly ``causal_repair`` / ``causalnet repair``; "repair" now means only the weight fix after
pruning, :mod:`pruning.repair`. The old names stay as deprecated aliases for one release.)

The causal graph marks *detrimental* units: removing them raises the true-class probability
(C-SWAP's global effect xi > 1, METHOD.md section 4). When a model learned a shortcut - a cue that
held in training but not in the data it should work on - the units carrying that cue come out
detrimental on clean data. :func:`debias` removes them:

1. **candidates** from the graph: its detrimental units (with ``classes``: the units whose
   removal raises the probability of one of those classes, ``class_effects[c] > 0``);
2. **confirmation** on a small clean calibration set (``calibration_per_class`` images per
   class, at most 20 by default): each candidate is mean-ablated on the current network (mean
   ablation is what removal + bias folding computes) and kept only when its removal raises
   log p(true class) significantly (one-sided t-test of the per-image log ratio, Benjamini-Hochberg
   over the candidates);
3. the confirmed units are removed together and the result is judged on the network as it
   will be saved (``judge="repair"``: removed physically and repaired; ``"mask"``: the faster
   mean-masked copy, BatchNorm re-estimated). The change is accepted only if the calibration
   log-likelihood rises and at most ``max_drop`` % of the calibration images the model got
   right turn wrong (``guard="regressions"``: this protects the inputs where a shortcut cue
   agrees with the label, which a clean set cannot single out; ``"accuracy"``: overall
   calibration accuracy may drop ``max_drop`` points). Else the top half is tried, down to one
   unit;
4. later rounds re-measure *every* remaining unit on the repaired network (effects change once
   others are gone: the graph's categories re-measured) and repeat 2-3 until none is confirmed.

The units are then removed physically with the pruner's machinery (by default the readers of
removed units re-solved by least squares, ``lsq``, then BatchNorm re-estimated), and saved like a pruning: ``pruned.safetensors``, ``plan.json``,
``report.json``, ``report.md``; :func:`pruning.load_pruned` reloads it. A removal that would empty
a layer, or a graph built from another model, is refused with a message saying what to do.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from scipy import stats as sps
from torch import nn

from causalnet.data import DataBundle, calibration_set
from causalnet.errors import CausalnetInputError, ModelMismatchError
from causalnet.evaluate import predict_logits, true_class_logp
from causalnet.graph import CausalGraph
from causalnet.interventions import Ablation, InterventionEngine
from causalnet.masking import UnitMask
from causalnet.stats import benjamini_hochberg
from causalnet.units import UnitMap, discover_units

from .io import make_plan
from .removal import removable_layers
from .repair import REPAIRS, finalize, reestimate_batchnorm

METHOD = "causal_repair"

# The pruner's least-squares reconstruction of the removed units' readers (mean folding where a
# dense solve does not apply), then BatchNorm re-estimated. Measured on zoo:resnet20_biased with the
# same 42 units (docs/audit_and_repair.md): lsq,bn kept aligned accuracy at 99.69% where bias,bn
# (plain mean folding) gave 83.25%.
REPAIR = ("lsq", "bn")


@dataclass
class DebiasSettings:
    """What decides a causal repair (recorded in the plan)."""

    classes: list[int] | None = None      # repair for these classes only (None: all)
    calibration_per_class: int = 20       # clean images per class (the only data the repair sees)
    alpha: float = 0.05                   # significance of "removal helps"
    correction: str = "bh"                # bh (Benjamini-Hochberg over candidates) | none
    max_drop: float = 3.0                 # tolerance, points (see guard)
    max_rounds: int = 4                   # rounds of re-measuring on the repaired network
    from_graph_only: bool = False         # only the graph's candidates, no re-measured rounds
    repair: tuple[str, ...] = REPAIR      # lsq (least squares), bias (fold means), bn (BatchNorm)
    judge: str = "repair"                 # repair: joint check on the repaired net (as saved) | mask: mean-masked net
    guard: str = "regressions"            # regressions: at most max_drop % of the images right before turn wrong |
                                          # accuracy: calibration accuracy may drop max_drop points
    seed: int = 0
    extra: dict = field(default_factory=dict)

    def validate(self) -> None:
        if self.calibration_per_class < 2:
            raise CausalnetInputError("the calibration set needs at least 2 images per class")
        if not 0 < self.alpha < 1:
            raise CausalnetInputError(f"alpha must be in (0, 1), got {self.alpha}")
        if self.correction not in ("bh", "none"):
            raise CausalnetInputError(f"correction must be 'bh' or 'none', got {self.correction!r}")
        if self.guard not in ("accuracy", "regressions"):
            raise CausalnetInputError(f"guard must be 'accuracy' or 'regressions', got {self.guard!r}")
        if self.judge not in ("mask", "repair"):
            raise CausalnetInputError(f"judge must be 'mask' or 'repair', got {self.judge!r}")
        if self.max_rounds < 1:
            raise CausalnetInputError("max_rounds must be at least 1")
        if not (math.isfinite(self.max_drop) and self.max_drop >= 0):
            raise CausalnetInputError(f"max_drop must be a finite number >= 0, got {self.max_drop}")
        bad = [r for r in self.repair if r not in REPAIRS]
        if bad:
            raise CausalnetInputError(f"unknown repair {bad}; use any of {', '.join(REPAIRS)} (or none)")


def check_graph(graph: CausalGraph, model: nn.Module, model_spec: str | None = None) -> None:
    """Refuse a graph of another model, naming the fix."""
    try:
        graph.check_model(model)
    except ModelMismatchError as exc:
        spec = model_spec or "MODEL"
        raise ModelMismatchError(
            f"cannot repair from this graph: {exc}. Build the graph of the model you repair: "
            f"causalnet build --model {spec} --data DATA --out graph.json") from None


def check_removal(units: UnitMap, removal: dict[str, Sequence[int]], reason: str = "") -> None:
    """Refuse a removal that would empty a layer (a network cannot run without it)."""
    for name, idx in removal.items():
        size = units.layer(name).size
        if len(set(idx)) >= size:
            raise CausalnetInputError(
                f"refusing to repair: it would remove all {size} units of layer {name!r}{reason}, which "
                "would empty it (every layer keeps at least one unit). Repair fewer classes (--classes), use a larger clean "
                "calibration set, or rebuild the graph on clean data")


def _candidates(graph: CausalGraph, units: UnitMap, layers: set[str], classes: list[int] | None) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for layer in units:
        if layer.name not in layers:
            continue
        for j in range(layer.size):
            node = layer.node_id(j)
            if node not in graph:
                continue
            a = graph.node(node)
            if classes is None:
                hit = a.get("category") == "detrimental"
            else:
                effects = a.get("class_effects") or {}
                hit = any((effects.get(c) or 0) > 0 for c in classes) and a.get("category") != "critical"
            if hit:
                out.setdefault(layer.name, []).append(j)
    return out


def _measure(work: nn.Module, units: UnitMap, cands: dict[str, list[int]], x: torch.Tensor,
             y: torch.Tensor) -> list[tuple[str, int, float, float]]:
    """(layer, unit, mean log ratio of p_y under mean ablation, one-sided p) per candidate."""
    engine = InterventionEngine(work, units, x, ablation=Ablation("mean"))
    clean = true_class_logp(engine.clean, y)
    rows = []
    for layer in units:
        js = cands.get(layer.name)
        if not js:
            continue
        logits = engine.ablate(layer, js)
        lr = (true_class_logp(logits, y) - clean).double().numpy()
        mean = lr.mean(1)
        sd = lr.std(1, ddof=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = mean / (sd / math.sqrt(lr.shape[1]))
        p = np.where(sd > 0, sps.t.sf(np.nan_to_num(t), df=lr.shape[1] - 1), np.where(mean > 0, 0.0, 1.0))
        rows += [(layer.name, j, float(mean[i]), float(p[i])) for i, j in enumerate(js)]
    return rows


def _calibration_state(work: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    logits, _ = predict_logits(work, (x, y))
    ll = true_class_logp(logits, y).mean().item()
    return ll, 100 * (logits.argmax(1) == y).float().mean().item()


def _correct(work: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    logits, _ = predict_logits(work, (x, y))
    return logits.argmax(1) == y


def plan_repair(model: nn.Module, graph: CausalGraph, x_cal: torch.Tensor, y_cal: torch.Tensor,
                settings: DebiasSettings | None = None) -> tuple[dict[str, list[int]], dict]:
    """The units to remove (layer -> indices) and the history of how they were chosen."""
    s = settings or DebiasSettings()
    s.validate()
    check_graph(graph, model)
    example = x_cal[:1]
    work = copy.deepcopy(model).eval()
    units = discover_units(work, example)
    layers = {layer.name for layer in removable_layers(work, units)}
    objective = torch.ones(len(y_cal), dtype=torch.bool)
    if s.classes is not None:
        objective = torch.isin(y_cal, torch.as_tensor(s.classes))
    x_obj, y_obj = x_cal[objective], y_cal[objective]
    cands = _candidates(graph, units, layers, s.classes)
    removed: dict[str, set[int]] = {}
    history: list[dict] = []
    mask = UnitMask(work, units)
    try:
        mask.refresh(x_cal)
        ll, acc = _calibration_state(work, x_obj, y_obj)
        base_acc_all = _calibration_state(work, x_cal, y_cal)[1]
        right_before = _correct(work, x_cal, y_cal)
        start_state = {"log_likelihood": ll, "accuracy": acc}
        for rnd in range(s.max_rounds):
            if rnd > 0:
                if s.from_graph_only:
                    break
                cands = {layer.name: [j for j in range(layer.size) if j not in removed.get(layer.name, set())]
                         for layer in units if layer.name in layers}
            if not any(cands.values()):
                history.append({"round": rnd + 1, "candidates": 0, "confirmed": 0, "committed": 0})
                break
            rows = _measure(work, units, cands, x_obj, y_obj)
            p_raw = np.array([r[3] for r in rows])
            p_adj = benjamini_hochberg(p_raw) if s.correction == "bh" else p_raw
            confirmed = sorted((r for r, q in zip(rows, p_adj, strict=True) if q < s.alpha and r[2] > 0),
                               key=lambda r: -r[2])
            entry = {"round": rnd + 1, "source": "graph" if rnd == 0 else "re-measured",
                     "candidates": len(rows), "confirmed": len(confirmed), "committed": 0}
            pending, take, committed = confirmed, len(confirmed), []
            while pending and take:
                chunk = pending[:take]
                trial = {n: set(v) for n, v in removed.items()}
                for name, j, _, _ in chunk:
                    trial.setdefault(name, set()).add(j)
                check_removal(units, trial, " (every one of them measured detrimental on the calibration set)")
                snapshot = {k: v.clone() for k, v in work.state_dict().items()}
                mask.set_off(trial)
                mask.refresh(x_cal)
                if "bn" in s.repair:
                    reestimate_batchnorm(work, x_cal)
                    mask.refresh(x_cal)
                judged = work
                if s.judge == "repair":  # what the saved model will compute, repair included
                    judged, _ = finalize(model, {n: sorted(v) for n, v in trial.items() if v}, x_cal,
                                         s.repair, example)
                new_ll, new_acc = _calibration_state(judged, x_obj, y_obj)
                if s.guard == "regressions":  # share of the images right before that turn wrong
                    now = _correct(judged, x_cal, y_cal)
                    lost = 100 * (right_before & ~now).sum().item() / max(int(right_before.sum()), 1)
                else:
                    lost = base_acc_all - _calibration_state(judged, x_cal, y_cal)[1]
                if new_ll > ll and lost <= s.max_drop:
                    removed, ll, acc = trial, new_ll, new_acc
                    committed += chunk
                    pending = pending[take:]
                    take = min(take, len(pending))
                    continue
                work.load_state_dict(snapshot)
                mask.set_off(removed)
                mask.refresh(x_cal)
                if take == 1:          # this unit does not help jointly with the others: skip it
                    pending = pending[1:]
                else:
                    take //= 2
            if committed:
                entry.update(committed=len(committed), log_likelihood=ll, accuracy=acc,
                             units=[{"unit": units.layer(n).node_id(j), "mean_log_ratio": m, "p": p}
                                    for n, j, m, p in committed])
            history.append(entry)
            if not entry["committed"]:
                break
    finally:
        mask.close()
    removal = {n: sorted(v) for n, v in removed.items() if v}
    info = {"history": history, "start": start_state, "calibration_log_likelihood": ll,
            "calibration_accuracy": acc, "units_removed": sum(len(v) for v in removal.values())}
    return removal, info


def debias(model: nn.Module, data: DataBundle, graph: CausalGraph, *,
                  settings: DebiasSettings | None = None, model_spec: str | None = None
                  ) -> tuple[nn.Module, dict, dict]:
    """Remove the units that carry a shortcut, judged on a small clean calibration set.

    Args:
        model: the trained model (left unchanged).
        data: where the clean calibration images are drawn (``data.fit``).
        graph: ``model``'s causal graph (its detrimental units are the candidates).
        settings: :class:`DebiasSettings` (calibration size, test, judge, guard, repair).
        model_spec: the spec string to record in the plan.

    Returns:
        ``(debiased_model, plan, info)``; save with :func:`pruning.save_pruned` and reload
        with :func:`pruning.load_pruned`.
    """
    s = settings or DebiasSettings()
    s.validate()
    check_graph(graph, model, model_spec)
    start = time.perf_counter()
    x_cal, y_cal = calibration_set(data.fit, s.calibration_per_class, seed=s.seed)
    if s.classes is not None:
        present = set(torch.unique(y_cal).tolist())
        bad = sorted(set(s.classes) - present)
        if bad:
            raise CausalnetInputError(f"classes {bad} have no calibration images in {data.spec!r} "
                                      f"(classes there: {sorted(present)})")
    removal, info = plan_repair(model, graph, x_cal, y_cal, s)
    example = x_cal[:1]
    repaired, changed = finalize(model, removal, x_cal, s.repair, example)
    info["seconds"] = time.perf_counter() - start
    info["calibration_images"] = len(y_cal)
    plan = make_plan(model, removal, tuple(example.shape[1:]), repair=changed,
                     settings={**{k: v for k, v in asdict(s).items() if k != "extra"}, "method": METHOD,
                               "repair": list(s.repair), "data": data.spec, **s.extra})
    return repaired, plan, info


def remove_same_number(model: nn.Module, n_units: dict[str, int] | int, method: str, x_cal: torch.Tensor,
                       y_cal: torch.Tensor, *, repair: Sequence[str] = REPAIR, seed: int = 0,
                       per_layer: bool = True) -> tuple[nn.Module, dict[str, list[int]]]:
    """A control: remove as many units as a repair did, chosen by a baseline criterion
    (``l1``: smallest magnitude, ``random``), with the same training-free repair. With
    ``per_layer`` (and ``n_units`` a layer -> count dict) the same count is taken from each layer."""
    from .baselines import baseline_scores

    example = x_cal[:1]
    units = discover_units(model, example)
    layers = {layer.name: layer for layer in removable_layers(model, units)}
    scores = baseline_scores(method, model, units, x_cal, y_cal, example, seed=seed)
    scores = {k: torch.as_tensor(v, dtype=torch.float64) for k, v in scores.items() if k in layers}
    removal: dict[str, list[int]] = {}
    if per_layer and isinstance(n_units, dict):
        for name, k in n_units.items():
            order = torch.argsort(scores[name], stable=True)
            removal[name] = sorted(int(i) for i in order[:k])
    else:
        total = n_units if isinstance(n_units, int) else sum(n_units.values())
        flat = sorted(((float(v / (scores[n].abs().max() + 1e-12)), n, j) for n in scores
                       for j, v in enumerate(scores[n])))
        for _, n, j in flat:
            if total == 0:
                break
            if len(removal.get(n, [])) + 1 < layers[n].size:
                removal.setdefault(n, []).append(j)
                total -= 1
    check_removal(units, removal)
    repaired, _ = finalize(model, removal, x_cal, repair, example)
    return repaired, {n: sorted(v) for n, v in removal.items()}


__all__ = ["DebiasSettings", "debias", "plan_repair", "check_graph", "check_removal",
           "remove_same_number", "METHOD"]
