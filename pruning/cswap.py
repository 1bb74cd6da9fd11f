"""C-SWAP: progressive one-shot structured pruning driven by the causal graph (METHOD.md, 5).

No training at any point. The planner works on a masked copy of the model (:class:`causalnet.masking.UnitMask`: the
removed units mean-ablated at their readers, which is what physical removal computes once their
means are folded into the readers' biases) and repeats:

1. score every remaining unit by the effect of *mean* ablation on the true-class log-likelihood,
   measured on the current, repaired (BatchNorm re-estimated) network - the operation pruning +
   repair will really perform (``--rescore-every`` chunks; the first scores can come from the
   saved graph). Re-scores are lazy: only the units the last scores rank first, enough to cover
   a few chunks, are ablated again (every unit every ``LAZY_FULL_EVERY``-th time), and the others
   keep their last score and rank after them. Fast mode (``screen``) goes further: each re-score
   ablates only the units a first-order estimate ranks first;
2. order units by harm per parameter removed (units whose removal helps - detrimental - first;
   ties: units in fewer class graphs first), the harm taken at its upper bound, the measured
   harm plus three standard errors over the scoring images (``harm="upper"``, ``harm_z``), so a
   unit whose harm the images cannot tell from zero is not ranked as free;
3. take a chunk (about ``chunk`` of the parameters), mask it jointly, re-estimate BatchNorm and
   judge the chunk as a whole on calibration accuracy; a chunk that costs more than
   ``max_drop`` points is undone and retried at half the size, down to one unit (or block); a
   single item that fails is passed over and the next one tried;
4. stop at the target (params or MACs removed), or when ``SKIP_PATIENCE`` items in a row failed
   alone.
Never empties a layer. Critical units go only when the target demands it (they are last in the
order); the report counts the categories removed.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, fields

import numpy as np
import torch
from torch import nn

from causalnet.data import DataBundle, calibration_set, class_balanced_indices, stack_samples
from causalnet.errors import CausalnetInputError
from causalnet.evaluate import accuracy, true_class_logp
from causalnet.first_order import first_order_effects
from causalnet.graph import CausalGraph
from causalnet.interventions import Ablation, InterventionEngine
from causalnet.masking import UnitMask
from causalnet.progress import progress
from causalnet.units import UnitMap, discover_units

from .costs import marginal_cost, next_block, removal_cost, unit_costs
from .reconstruct import reconstruct_masked
from .removal import removable_layers
from .repair import copy_batchnorm_statistics, reestimate_batchnorm


@dataclass
class CswapIngredients:
    """The planner's ingredients (METHOD.md 5) that only the ablation study in ``benchmarks/``
    switches off or swaps; the defaults are C-SWAP (like Torch-Pruning's Advanced options, apart
    from the Basic ones users tune in :class:`CswapSettings`)."""

    scoring_ablation: str = "mean"        # mean: what removal + bias folding computes | zero |
    #                                       predicted: the unit's least-squares prediction from the
    #                                       others (what removal + lsq repair computes for a reader)
    #                                       | refit: removed, every reader re-solved by least
    #                                       squares (the lsq repair of one unit, in closed form),
    #                                       fitted on calibration images the scores do not use
    refit_min_rows: float = 0.0           # scoring_ablation="refit": a reader with fewer rows of
    #                                       data per input column than this is not re-solved (reads
    #                                       the mean; Ablation.refit_min_rows); 0: every reader is
    #                                       re-solved
    bn_between_chunks: bool = True        # re-estimate BatchNorm before every re-score and check
    joint_check: bool = True              # judge each chunk as a whole, undo it when it fails
    budgets: str = "none"                 # graph: per-layer caps, layers serving more class graphs keep more
    tie_break: str = "none"               # magnitude: L1 norm orders the units whose score is not significant
    repair_in_loop: str = "mask"          # mask: mean-masked net (= bias folding) | lsq: readers re-solved too
    judge: str = "masked"                 # the net the tolerance judges: masked: the net scored
    #                                       (mean-masked, BatchNorm re-estimated) | repaired: a copy
    #                                       of it with its readers re-solved by least squares (what
    #                                       the lsq repair will give), the scores still on the masked net
    rescore: str = "lazy"                 # lazy: a re-score ablates only the units the last scores rank
    #                                       first (screen_cover chunks), every alive unit every
    #                                       LAZY_FULL_EVERY-th time (lazy greedy) | full: every unit every time
    harm: str = "upper"                   # upper: a unit ranked by its harm plus harm_z
    #                                       standard errors (a harm the scoring images cannot tell
    #                                       from 0 is not free: its cost still counts) | mean: its
    #                                       measured harm alone (the default until the ablation of
    #                                       docs/pruning_status.md: upper ahead by params in 24 of
    #                                       25 cells, tied by MACs on LeNet-5)
    finish: str = "capped"                # how a unit is costed when less than its cost is left
    #                                       to the next stop (a level or the target): capped: at what
    #                                       is left (the covering-knapsack greedy: past the stop a
    #                                       removal buys nothing, so a coarse unit that would overshoot
    #                                       far is no bargain at the end) | greedy: at its full cost
    #                                       (the default until 2026-12-08: a 30% MACs plan of LeNet-5
    #                                       removed 41.9%, the ablation rows "capped finish"
    #                                       of benchmarks/results/cswap_ablation_fashion_lenet5_macs.md)
    harm_z: float = 3.0                   # harm="upper": standard errors added to the measured harm
    #                                       (3 since the ablation of docs/pruning_status.md: ahead of
    #                                       1 in 45 of 59 cells, by 0.42 point on average; at 1, a sixth
    #                                       of VGG-11-BN's units have a bound below 0 and go first)

    def validate(self) -> None:
        if self.scoring_ablation not in ("mean", "zero", "predicted", "refit"):
            raise CausalnetInputError("scoring_ablation must be 'mean', 'zero', 'predicted' or 'refit'")
        if self.budgets not in ("none", "graph"):
            raise CausalnetInputError("budgets must be 'none' or 'graph'")
        if self.repair_in_loop not in ("mask", "lsq"):
            raise CausalnetInputError("repair_in_loop must be 'mask' or 'lsq'")
        if self.judge not in ("masked", "repaired"):
            raise CausalnetInputError("judge must be 'masked' or 'repaired'")
        if self.tie_break not in ("none", "magnitude"):
            raise CausalnetInputError("tie_break must be 'none' or 'magnitude'")
        if self.rescore not in ("full", "lazy"):
            raise CausalnetInputError("rescore must be 'full' or 'lazy'")
        if self.harm not in ("mean", "upper"):
            raise CausalnetInputError("harm must be 'mean' or 'upper'")
        if self.finish not in ("capped", "greedy"):
            raise CausalnetInputError("finish must be 'capped' or 'greedy'")
        Ablation(self.scoring_ablation, refit_min_rows=self.refit_min_rows)   # checks refit_min_rows
        if not self.harm_z >= 0:
            raise CausalnetInputError(f"harm_z is a number of standard errors, at least 0; got {self.harm_z}")


_INGREDIENTS = {f.name for f in fields(CswapIngredients)}


def parse_ingredients(items: Sequence[str]) -> CswapIngredients:
    """``["harm_z=1", "judge=repaired"]`` (the CLI's ``--ingredient KEY=VALUE``) to the
    :class:`CswapIngredients` with those fields changed and the others at their defaults;
    each value is read as its field's type. Raises :class:`CausalnetInputError` on an unknown
    name, a malformed item or a value that does not fit."""
    defaults = CswapIngredients()
    changes: dict = {}
    for item in items:
        key, sep, text = item.partition("=")
        key, text = key.strip(), text.strip()
        if not sep or not key or not text:
            raise CausalnetInputError(f"bad ingredient {item!r}: use KEY=VALUE, such as harm_z=1")
        if key not in _INGREDIENTS:
            raise CausalnetInputError(f"unknown ingredient {key!r}; choose from {', '.join(sorted(_INGREDIENTS))}")
        kind = type(getattr(defaults, key))
        if kind is bool:
            if text.lower() not in ("true", "false", "1", "0"):
                raise CausalnetInputError(f"ingredient {key} is true or false, got {text!r}")
            changes[key] = text.lower() in ("true", "1")
        elif kind is float:
            try:
                changes[key] = float(text)
            except ValueError:
                raise CausalnetInputError(f"ingredient {key} is a number, got {text!r}") from None
        else:
            changes[key] = text
    ingredients = dataclasses.replace(defaults, **changes)
    ingredients.validate()
    return ingredients


@dataclass
class CswapSettings:
    """What decides a C-SWAP plan (recorded in the plan): the options users tune, and
    ``ingredients`` (:class:`CswapIngredients`), the switches of the ablation study."""

    target_params: float | None = 0.5     # fraction of parameters to remove
    target_macs: float | None = None      # or fraction of MACs to remove
    max_drop: float | None = None         # calibration accuracy tolerance, in points (None: auto_tolerance)
    chunk: float = 0.05                   # fraction of the model's params (or MACs) per chunk
    rescore_every: int = 1                # chunks between re-scores (0: graph scores only)
    calibration_per_class: int = 20       # images per class for BN re-estimation and checks
    check_per_class: int | None = None    # more images per class the tolerance is checked on,
    #                                       besides the calibration images, from the fit split
    #                                       (None: the calibration images alone; at 20 per class
    #                                       one image is 0.5 points of a 1-point tolerance)
    score_per_class: int = 10             # images per class for scoring (a subset)
    round_to: int | None = None           # keep a multiple of this many units per layer
    rank_by: str = "harm_per_cost"        # harm_per_cost | harm
    objective: str = "loglik"             # loglik: true-class log-likelihood | kl: KL to the original
    screen: bool = False                  # fast mode: exact re-scores only for the units a
    #                                       first-order estimate ranks first (screen_cover chunks)
    screen_cover: float = 4.0             # ... enough of them to cover this many chunks' cost
    seed: int = 0
    ingredients: CswapIngredients = field(default_factory=CswapIngredients)

    def validate(self) -> None:
        targets = [t for t in (self.target_params, self.target_macs) if t is not None]
        if len(targets) != 1:
            raise CausalnetInputError("give exactly one target: --target-params F or --target-macs F")
        if not 0 < targets[0] < 1:
            raise CausalnetInputError(f"the target is a fraction to remove, strictly between 0 and 1; "
                                      f"got {targets[0]}")
        if self.max_drop is not None and not self.max_drop >= 0:
            raise CausalnetInputError(f"--max-drop is a tolerance in accuracy points and cannot be "
                                      f"negative; got {self.max_drop}")
        if self.objective not in ("loglik", "kl"):
            raise CausalnetInputError("objective must be 'loglik' or 'kl'")
        if self.rank_by not in ("harm_per_cost", "harm"):
            raise CausalnetInputError("rank_by must be 'harm_per_cost' or 'harm'")
        if not 0 < self.chunk <= 1:
            raise CausalnetInputError(f"chunk must be in (0, 1], got {self.chunk}")
        if self.round_to is not None and self.round_to < 1:
            raise CausalnetInputError("--round-to must be a positive integer")
        if self.check_per_class is not None and self.check_per_class < 1:
            raise CausalnetInputError(f"check_per_class is a number of images per class, at least 1 "
                                      f"(or None: check on the calibration images); got {self.check_per_class}")
        if not self.screen_cover >= 1:
            raise CausalnetInputError(f"screen_cover is a number of chunks, at least 1; got {self.screen_cover}")
        self.ingredients.validate()

    def replace(self, **changes) -> CswapSettings:
        """A copy with ``changes`` applied; names of :class:`CswapIngredients` fields change the
        ingredients (so an ablation study can say ``settings.replace(joint_check=False)``)."""
        own = {k: v for k, v in changes.items() if k not in _INGREDIENTS}
        mixed = {k: v for k, v in changes.items() if k in _INGREDIENTS}
        return dataclasses.replace(self, **own,
                                   ingredients=dataclasses.replace(self.ingredients, **mixed))

    @property
    def key(self) -> str:
        return "params" if self.target_params is not None else "macs"

    @property
    def target(self) -> float:
        return self.target_params if self.target_params is not None else self.target_macs


@dataclass
class CswapResult:
    removal: dict[str, list[int]]
    history: list[dict]
    scores: dict[str, list[float]]          # last mean log-ratio per unit (nan: removed)
    calibration_accuracy: float             # on the check images (the calibration images unless check_per_class)
    base_calibration_accuracy: float
    removed_fraction: float
    seconds: float
    stopped: str
    snapshots: dict[float, dict[str, list[int]]] = field(default_factory=dict)  # milestone -> removal
    exact_scores: int = 0                   # single-unit ablations run (fewer in fast mode)
    budget: str = "params"                  # the resource removed_fraction is a fraction of

    @property
    def outcome(self) -> str:
        """``"target reached"``, or why the plan stopped and how far it got
        (``"...; stopped at 48.9% of params"``)."""
        if self.stopped == "target reached":
            return self.stopped
        return f"{self.stopped}; stopped at {100 * self.removed_fraction:.1f}% of {self.budget}"


SCREEN_MIN = 16     # fast mode scores at least this many units exactly, however small the chunk
SKIP_PATIENCE = 8   # items in a row that may fail alone (each passed over) before C-SWAP stops
LAZY_FULL_EVERY = 4  # lazy re-scoring: every this many re-scores ablates every alive unit


def rank(harm: float, cost: float, rank_by: str = "harm_per_cost") -> float:
    """Where a unit goes in the removal order (lowest first): its harm (minus its score), or its
    harm per unit of cost; a unit whose removal helps (negative harm) goes first, the more so
    the more it removes."""
    if rank_by == "harm":
        return harm
    return harm / cost if harm > 0 else harm * cost


def auto_tolerance(n_calibration: int, points: float = 1.0) -> float:
    """The default tolerance: ``points`` (1.0), or one calibration image where one image is worth
    more (100 / n points: at 60 images one flipped image costs 1.67 points, and a 1-point tolerance
    would stop at the first image that changes)."""
    return max(points, 100.0 / max(n_calibration, 1))


def tolerance_note(tolerance: float, n_calibration: int, images: str = "calibration") -> str:
    """What the stop message adds when the tolerance is below what the ``n_calibration`` images
    it is checked on resolve (``images``: what the message calls them)."""
    one = 100.0 / max(n_calibration, 1)
    if tolerance >= one:
        return ""
    return (f"; one of the {n_calibration} {images} images is {one:.2f} points, so this tolerance "
            "stops at the first image that changes: raise --max-drop, or check on more images "
            "(--check-images N, or more --calibration images)")


def graph_scores(graph: CausalGraph, units: UnitMap) -> dict[str, np.ndarray]:
    """Initial scores from the saved graph: log xi per unit (0 where xi is missing)."""
    out = {}
    for layer in units:
        vals = []
        for u in range(layer.size):
            node = layer.node_id(u)
            xi = graph.node(node).get("xi") if node in graph else None
            vals.append(math.log(xi) if xi and xi > 0 else 0.0)
        out[layer.name] = np.asarray(vals)
    return out


def layer_budgets(graph: CausalGraph, members: dict[str, np.ndarray], costs, key: str,
                  target: float, *, slack: float = 1.25, ceiling: float = 0.95) -> dict[str, int]:
    """Per layer, the most units the planner may remove: layers whose units serve more class
    graphs keep more. A layer's share w (mean class graphs per unit / class graphs built) sets
    its removal fraction target * (1 - w) / mean(1 - w) (mean weighted by the layer's cost),
    loosened by ``slack`` so that the causal ranking still decides inside and across layers."""
    n_graphs = max(1, len(graph.nx.graph.get("class_graphs", {}) or {}))
    share = {n: float(members[n].mean()) / n_graphs if len(members[n]) else 0.0 for n in costs}
    weight = {n: float(costs[n][f"{key}_total"]) for n in costs}
    mean_keep = sum(weight[n] * (1 - share[n]) for n in costs) / max(sum(weight.values()), 1e-12)
    caps = {}
    for n in costs:
        frac = min(ceiling, slack * target * (1 - share[n]) / max(mean_keep, 1e-12))
        caps[n] = int(math.floor(frac * costs[n]["size"]))
    return caps


def membership(graph: CausalGraph | None, units: UnitMap) -> dict[str, np.ndarray]:
    """Number of class graphs each unit belongs to."""
    out = {}
    for layer in units:
        out[layer.name] = np.asarray([
            len(graph.node(layer.node_id(u)).get("classes", [])) if graph is not None
            and layer.node_id(u) in graph else 0 for u in range(layer.size)])
    return out


def _add_zero_biases(model: nn.Module, units: UnitMap) -> None:
    """Zero biases for the Conv2d/Linear readers that have none (on the planner's working copy:
    least squares needs an intercept; a zero bias changes no output)."""
    for layer in units:
        for reader in layer.readers:
            module = reader.module
            if isinstance(module, nn.Conv2d | nn.Linear) and module.bias is None:
                width = module.out_channels if isinstance(module, nn.Conv2d) else module.out_features
                module.bias = nn.Parameter(torch.zeros(width, dtype=module.weight.dtype,
                                                       device=module.weight.device))


class CswapPlanner:
    """Plans a C-SWAP pruning of ``model`` from its causal ``graph`` (``plan(data)``)."""

    def __init__(self, model: nn.Module, graph: CausalGraph | None, settings: CswapSettings | None = None,
                 *, show_progress: bool = False, fingerprint: str | None = None):
        """
        Args:
            model: the trained model (left unchanged: the planner works on a copy).
            graph: its causal graph (``causalnet build``), checked against ``model``; None plans
                from the planner's own scores only.
            settings: what decides the plan (default :class:`CswapSettings`).
            show_progress: show a progress bar of the fraction removed.
            fingerprint: ``model``'s fingerprint when the caller already has it (the graph is
                checked against it instead of hashing the weights again).
        """
        self.model = model
        self.graph = graph
        self.settings = settings or CswapSettings()
        self.settings.validate()
        self.show_progress = show_progress
        if graph is not None:
            graph.check_model(fingerprint or model)
        # state of the plan in progress (set by plan(), read by _score and _next_chunk)
        self._x_fit: torch.Tensor | None = None             # images the predicted ablation is fitted on
        self._x_refit: torch.Tensor | None = None           # ... the refit ablation (not scored on)
        self._se: dict[str, np.ndarray] = {}                # standard error of each unit's last score
        self._caps: dict[str, int] | None = None            # per-layer budgets (budgets="graph")
        self._magnitude: dict[str, np.ndarray] | None = None  # L1 tie-break (tie_break="magnitude")
        self._chunk_items = 0                               # items (units or blocks) in the last chunk
        self._exact: dict[str, set[int]] | None = None      # units ablated by the last re-score (fast, lazy)
        self.exact_scores = 0                               # single-unit ablations run by the plan
        self._last: dict[str, np.ndarray] | None = None     # the last scores (lazy re-scoring)
        self._rescores = 0                                  # re-scores so far (lazy re-scoring)

    def _score(self, work: nn.Module, units: UnitMap, alive: dict[str, list[int]],
               x: torch.Tensor, y: torch.Tensor, reference: torch.Tensor, *,
               counts: dict[str, int] | None = None, costs=None, budget: float = 0.0) -> dict[str, np.ndarray]:
        """Per alive unit, how much mean-ablating it on the masked network helps the objective
        (negative: it harms): the mean log-ratio of p_y ("loglik"), or minus the rise of the
        KL divergence from the original model's predictions ``reference`` ("kl").

        With ``settings.screen`` every alive unit first gets a first-order estimate (one
        forward and backward for all of them), and only the units that estimate ranks first,
        enough to cover ``screen_cover`` chunks of ``budget``, are ablated one by one; the others
        keep their estimate and are ranked after every exactly scored unit."""
        # predictions are fitted on the calibration images, as the least-squares repair is
        mode = self.settings.ingredients.scoring_ablation
        fit = self._x_fit if mode == "predicted" else self._x_refit if mode == "refit" else None
        ablation = Ablation(mode, refit_min_rows=self.settings.ingredients.refit_min_rows)
        engine = InterventionEngine(work, units, x, ablation=ablation,
                                    reference=fit)
        ref = torch.log_softmax(reference, 1)
        if self.settings.objective == "kl":
            def value(logits):  # -(KL(p_orig || p)) per image, where the logits are (GPU or CPU)
                r = ref.to(logits.device)
                return -(r.exp() * (r - torch.log_softmax(logits, -1))).sum(-1)
        else:
            def value(logits):
                return true_class_logp(logits, y)
        clean = value(engine.clean)
        exact, out = alive, {}
        lazy = (self.settings.ingredients.rescore == "lazy" and self._last is not None
                and self._rescores % LAZY_FULL_EVERY != 0)
        self._rescores += 1
        if self.settings.screen:
            out, exact = self._screen(engine, units, alive, value, counts or {}, costs, budget)
            self._exact = {n: set(v) for n, v in exact.items()}
        elif lazy:
            out = {n: v.copy() for n, v in self._last.items()}
            exact = self._first(out, alive, counts or {}, costs, budget)
            self._exact = {n: set(v) for n, v in exact.items()}
        else:
            self._exact = None
        for layer in units:
            scores = out.get(layer.name, np.full(layer.size, np.nan))
            se = np.full(layer.size, np.nan)
            if exact.get(layer.name):
                diff = (value(engine.ablate(layer, exact[layer.name])) - clean).double()
                scores[exact[layer.name]] = diff.mean(1).numpy()
                se[exact[layer.name]] = (diff.std(1) / math.sqrt(max(diff.shape[1], 1))).numpy()
                self.exact_scores += len(exact[layer.name])
            out[layer.name] = scores
            if not lazy or layer.name not in self._se:
                self._se[layer.name] = se
            else:
                self._se[layer.name][exact.get(layer.name, [])] = se[exact.get(layer.name, [])]
        self._last = out
        return out

    def _harm(self, scores: dict[str, np.ndarray], name: str, u: int) -> float:
        """The harm that ranks unit ``u`` of layer ``name``: minus its score, plus
        ``harm_z`` standard errors of it with ``harm="upper"`` (none where the score is an
        estimate without one)."""
        harm = -float(scores[name][u])
        if self.settings.ingredients.harm == "upper":
            se = self._se.get(name)
            if se is not None and np.isfinite(se[u]):
                harm += self.settings.ingredients.harm_z * float(se[u])
        return harm

    def _first(self, scores: dict[str, np.ndarray], alive: dict[str, list[int]], counts: dict[str, int],
               costs, budget: float) -> dict[str, list[int]]:
        """The alive units that ``scores`` rank first by :func:`rank`, until their cost covers
        ``screen_cover`` times ``budget`` (at least ``SCREEN_MIN`` of them)."""
        s = self.settings
        ranked = []
        for name, alive_units in alive.items():
            cost = max(marginal_cost(costs, counts, name, s.key), 1)
            ranked += [(rank(self._harm(scores, name, u), cost, s.rank_by), name, u, cost) for u in alive_units]
        ranked.sort()
        chosen: dict[str, list[int]] = {}
        covered = 0.0
        for i, (_, name, u, cost) in enumerate(ranked):
            if covered >= s.screen_cover * budget and i >= SCREEN_MIN:
                break
            chosen.setdefault(name, []).append(u)
            covered += cost
        return {n: sorted(v) for n, v in chosen.items()}

    def _screen(self, engine: InterventionEngine, units: UnitMap, alive: dict[str, list[int]], value,
                counts: dict[str, int], costs, budget: float
                ) -> tuple[dict[str, np.ndarray], dict[str, list[int]]]:
        """First-order score estimates of every alive unit (:func:`causalnet.interventions.
        first_order_effects`), and the units to score exactly: best first by :func:`rank`, until
        their cost covers ``screen_cover`` times ``budget``."""
        estimates = {}
        for layer in units:
            if not alive.get(layer.name):
                continue
            est = np.full(layer.size, np.nan)
            est[alive[layer.name]] = first_order_effects(engine, layer, value)[alive[layer.name]].mean(1).double().numpy()
            estimates[layer.name] = est
        return estimates, self._first(estimates, {n: v for n, v in alive.items() if n in estimates},
                                      counts, costs, budget)

    def plan(self, data: DataBundle | None, example: torch.Tensor | None = None,
             milestones: tuple[float, ...] = (), *,
             calibration: tuple[torch.Tensor, torch.Tensor] | None = None,
             units: UnitMap | None = None) -> CswapResult:
        """Plan the removal (the model is not changed).

        Args:
            data: the data bundle whose fit split supplies the calibration images (unused when
                ``calibration`` is given).
            example: a batch of one input (default: the first calibration image).
            milestones: fractions below the target that are also stopped at exactly; the
                removal at each is kept in ``snapshots``, so one progressive run gives a whole
                accuracy-vs-size curve.
            calibration: ``(x, y)`` calibration images already drawn by the caller
                (``calibration_set(data.fit, settings.calibration_per_class, seed=settings.seed)``).
            units: the model's unit map when the caller already has it.

        Returns:
            A :class:`CswapResult`: the removal, the history of chunks, the last scores.
        """
        s = self.settings
        start = time.perf_counter()
        x_cal, y_cal = (calibration if calibration is not None
                        else calibration_set(data.fit, s.calibration_per_class, seed=s.seed))
        per = min(s.score_per_class, s.calibration_per_class)
        score_idx = torch.cat([torch.nonzero(y_cal == c)[:per, 0] for c in torch.unique(y_cal)])
        x_score, y_score = x_cal[score_idx], y_cal[score_idx]
        # the repaired judge's readers are solved on the calibration images: it judges the others only
        x_check, y_check = self._check_set(data, x_cal, y_cal,
                                           with_calibration=s.ingredients.judge != "repaired")
        self._x_fit = x_cal
        held = torch.ones(len(y_cal), dtype=torch.bool, device=y_cal.device)
        held[score_idx] = False
        # out-of-sample harm: a Linear reader of 400 inputs re-solved on the 100 images it is
        # then scored on would restore almost anything (the predicted ablation's overfit)
        self._x_refit = x_cal[held] if bool(held.any()) else x_cal
        example = x_cal[:1] if example is None else example
        with torch.inference_mode():
            reference = self.model.eval()(x_score)
        work = copy.deepcopy(self.model).eval()
        units = discover_units(work, example) if units is None else units.bound_to(work)
        layers = {layer.name: layer for layer in removable_layers(work, units)}
        costs = unit_costs(self.model, units, example, layers=list(layers))
        total = costs.params if s.key == "params" else costs.macs
        target = s.target * total
        stops = sorted({m * total for m in milestones if 0 < m < s.target} | {target})
        snapshots: dict[float, dict[str, list[int]]] = {}
        members = membership(self.graph, units)
        if s.ingredients.repair_in_loop == "lsq" or s.ingredients.judge == "repaired":
            _add_zero_biases(work, units)
        self._se = {}
        self._exact = None
        self.exact_scores = 0
        self._last = None
        self._rescores = 0
        self._caps = (layer_budgets(self.graph, members, costs, s.key, s.target)
                      if s.ingredients.budgets == "graph" and self.graph is not None else None)
        self._magnitude = self._magnitudes(units, costs, x_cal, y_cal, example) if s.ingredients.tie_break == "magnitude" else None
        mask = UnitMask(work, units, values="zero" if s.ingredients.scoring_ablation == "zero" else "mean")
        removed: dict[str, set[int]] = {name: set() for name in layers}
        history: list[dict] = []
        try:
            mask.refresh(x_cal)
            base_acc = 100 * accuracy(work, (x_check, y_check))
            acc = base_acc
            tolerance = s.max_drop if s.max_drop is not None else auto_tolerance(len(y_check))
            # what the stop messages call the images the tolerance is judged on
            judged = "calibration" if x_check is x_cal else "check"
            note = tolerance_note(tolerance, len(y_check), judged)
            scores = (graph_scores(self.graph, units) if (self.graph is not None and s.rescore_every == 0)
                      else None)
            chunk_frac = s.chunk
            chunks_since_score = s.rescore_every
            stopped = "target reached"
            skipped: dict[str, set[int]] = {n: set() for n in layers}   # items that failed alone
            misses = 0                                                  # ... in a row
            bar = progress(total=int(round(100 * s.target)), show=self.show_progress,
                           desc=f"C-SWAP {s.key} removed (%)", unit="%")
            while True:
                counts = {n: len(v) for n, v in removed.items()}
                done = removal_cost(costs, counts)[0 if s.key == "params" else 1]
                while stops and done >= stops[0] - 1e-9:
                    snapshots[round(stops.pop(0) / total, 6)] = {
                        n: sorted(v) for n, v in removed.items() if v}
                if done >= target:
                    break
                alive = {n: sorted(set(range(layers[n].size)) - removed[n]) for n in layers}
                if scores is None or (s.rescore_every and chunks_since_score >= s.rescore_every):
                    scores = self._score(work, units, alive, x_score, y_score, reference, counts=counts,
                                         costs=costs, budget=chunk_frac * total)
                    chunks_since_score = 0
                candidates = {n: [u for u in v if u not in skipped[n]] for n, v in alive.items()}
                need = stops[0] - done   # what is left to the next stop
                chunk = self._next_chunk(scores, members, candidates, counts, costs,
                                         min(chunk_frac * total, need), need)
                if not chunk and self._caps is not None:
                    self._caps = None  # every layer is at its budget: the ranking alone decides now
                    chunk = self._next_chunk(scores, members, candidates, counts, costs,
                                             min(chunk_frac * total, need), need)
                if not chunk:
                    stopped = ("no removable unit left (every layer at its minimum)" if not misses else
                               f"tolerance: every unit (or block) left costs more than {tolerance:.2f} "
                               f"points of {judged} accuracy alone{note}")
                    break
                snapshot = {k: v.clone() for k, v in work.state_dict().items()}
                trial = {n: removed[n] | set(chunk.get(n, ())) for n in removed}
                mask.set_off(trial)
                mask.refresh(x_cal)
                if s.ingredients.repair_in_loop == "lsq":  # the readers re-solved: the net the plan will give
                    reconstruct_masked(work, self.model, mask.masked_inputs, x_cal)
                    mask.refresh(x_cal)
                elif s.ingredients.bn_between_chunks:
                    reestimate_batchnorm(work, x_cal)
                    mask.refresh(x_cal)
                new_acc = self._judged_accuracy(work, mask, x_cal, (x_check, y_check))
                n_units = sum(len(v) for v in chunk.values())
                entry = {"units": n_units, "calibration_accuracy": new_acc,
                         "removed_fraction": removal_cost(costs, {n: len(v) for n, v in trial.items()})[
                             0 if s.key == "params" else 1] / total}
                if s.ingredients.joint_check and base_acc - new_acc > tolerance:
                    work.load_state_dict(snapshot)
                    mask.set_off(removed)
                    mask.refresh(x_cal)
                    history.append({**entry, "committed": False})
                    if self._chunk_items <= 1:
                        # one item alone is too costly: pass over it, try the next ones
                        misses += 1
                        if misses >= SKIP_PATIENCE:
                            stopped = (f"tolerance: the next {misses} units (or blocks) tried alone each cost "
                                       f"more than {tolerance:.2f} points of {judged} accuracy (the last: "
                                       f"{base_acc - new_acc:.2f}{note})")
                            break
                        for n, v in chunk.items():
                            skipped[n].update(v)
                        continue
                    chunk_frac = max(chunk_frac / 2, 1e-9) if self._chunk_items > 2 else 0.0
                    continue
                if any(skipped.values()):
                    # past an item that failed alone: let the chunks grow back (one item per
                    # re-score would be as slow as it is careful)
                    chunk_frac = min(s.chunk, max(2 * chunk_frac, s.chunk / 16))
                misses = 0
                removed = trial
                acc = new_acc
                chunks_since_score += 1
                history.append({**entry, "committed": True})
                bar.n = int(round(100 * entry["removed_fraction"]))
                bar.refresh()
            bar.close()
        finally:
            mask.close()
        counts = {n: len(v) for n, v in removed.items()}
        fraction = removal_cost(costs, counts)[0 if s.key == "params" else 1] / total
        return CswapResult(removal={n: sorted(v) for n, v in removed.items() if v}, history=history,
                           scores={n: [float(v) for v in arr] for n, arr in (scores or {}).items()},
                           calibration_accuracy=acc, base_calibration_accuracy=base_acc,
                           removed_fraction=fraction, seconds=time.perf_counter() - start,
                           stopped=stopped, snapshots=snapshots, exact_scores=self.exact_scores,
                           budget=s.key)

    def _judged_accuracy(self, work: nn.Module, mask: UnitMask, x_cal: torch.Tensor,
                         check: tuple[torch.Tensor, torch.Tensor]) -> float:
        """Accuracy (%) on ``check`` of the net the tolerance judges: ``work`` as it is, or with
        ``judge="repaired"`` what ``finalize(..., repair=("lsq",))`` would give (the original
        BatchNorm statistics, the readers re-solved by least squares), undone afterwards:
        ``work`` stays the masked net the scores see."""
        if self.settings.ingredients.judge == "masked" or self.settings.ingredients.repair_in_loop == "lsq":
            return 100 * accuracy(work, check)
        state = {k: v.clone() for k, v in work.state_dict().items()}
        copy_batchnorm_statistics(work, self.model)
        mask.refresh(x_cal)
        reconstruct_masked(work, self.model, mask.masked_inputs, x_cal)
        mask.refresh(x_cal)
        acc = 100 * accuracy(work, check)
        work.load_state_dict(state)
        mask.refresh(x_cal)
        return acc

    def _check_set(self, data: DataBundle | None, x_cal: torch.Tensor, y_cal: torch.Tensor, *,
                   with_calibration: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """The images the tolerance is checked on: the calibration images, and with
        ``check_per_class`` up to that many more per class from the fit split (drawn with the
        settings' seed, the calibration images left out; a class with fewer spare images gives
        what it has). ``with_calibration=False``: only those more images (the calibration images
        where there are none)."""
        s = self.settings
        if s.check_per_class is None:
            return x_cal, y_cal
        if data is None:
            raise CausalnetInputError("check_per_class draws its images from the data's fit split: "
                                      "pass the data bundle to plan(), or leave check_per_class at None")
        targets = data.fit.targets
        drawn = class_balanced_indices(targets, s.calibration_per_class + s.check_per_class,
                                       seed=s.seed + 1, strict=False)
        x, y = stack_samples(data.fit, drawn)
        # leave out the drawn images that are calibration images (compared by their pixels, so
        # this holds for whatever calibration images the caller passed)
        seen = {row.numpy().tobytes() for row in x_cal.detach().cpu().flatten(1)}
        fresh = [k for k, row in enumerate(x.flatten(1)) if row.numpy().tobytes() not in seen]
        per: dict[int, int] = {}
        keep = []
        for k in fresh:
            c = int(y[k])
            if per.get(c, 0) < s.check_per_class:
                per[c] = per.get(c, 0) + 1
                keep.append(k)
        if not keep:
            return x_cal, y_cal
        x, y = x[keep].to(x_cal.device), y[keep].to(y_cal.device)
        if not with_calibration:
            return x, y
        return torch.cat([x_cal, x]), torch.cat([y_cal, y])

    def _next_chunk(self, scores, members, alive, counts, costs, budget: float,
                    need: float | None = None) -> dict[str, list[int]]:
        """Units in order of harm per cost until ``budget`` (params or MACs) is covered; a chunk
        of ``budget`` 0 is one item. An item is one unit, or with ``round_to`` a block of a layer's
        next lowest-ranked units that keeps its size a multiple of ``round_to`` (ranked by their
        mean). Layers keep at least one unit (``round_to`` units where they have that many).
        ``need``: what is left to the next stop; with ``finish="capped"`` an item costing more is
        ranked as costing ``need``. ``self._chunk_items`` says how many items the chunk holds."""
        s = self.settings
        key = s.key
        caps = self._caps
        magnitude = self._magnitude
        items = []
        for name, units_alive in alive.items():
            se = self._se.get(name)
            cost = max(marginal_cost(costs, counts, name, key), 1)
            size = costs[name]["size"]
            done = counts.get(name, 0)
            ranked_cost = cost
            if need is not None and s.ingredients.finish == "capped":
                # what is left to the stop, per unit of this layer's next block
                width = next_block(size, done, s.round_to) or 1
                ranked_cost = max(min(cost, need / width), 1)
            ranked = []
            exact = None if self._exact is None else self._exact.get(name, set())
            for u in units_alive:
                harm = self._harm(scores, name, u)
                order = rank(harm, ranked_cost, s.rank_by)
                tie = 0.0
                if magnitude is not None and se is not None and abs(scores[name][u]) < 1.96 * se[u]:
                    # not significantly different from no effect: the magnitude decides
                    order, tie = 0.0, float(magnitude[name][u]) / cost
                # not ablated in this re-score (fast mode: an estimate; lazy: its last score), so
                # after every freshly scored unit
                estimated = float(exact is not None and u not in exact)
                ranked.append((estimated, order, tie, int(members[name][u]), u))
            ranked.sort()
            cap = size if caps is None else caps.get(name, size)
            at = 0
            # units passed over (not in ``alive``) stay in the layer: no block past the ranked ones
            while ((width := next_block(size, done + at, s.round_to)) and done + at + width <= cap
                   and at + width <= len(ranked)):
                block = ranked[at:at + width]
                mean = [sum(b[i] for b in block) / width for i in range(4)]
                items.append((*mean, -cost, name, tuple(b[4] for b in block)))
                at += width
        items.sort()
        chunk: dict[str, list[int]] = {}
        taken = dict(counts)
        covered = 0.0
        self._chunk_items = 0
        for *_, name, block in items:
            for u in block:
                covered += marginal_cost(costs, taken, name, key)
                chunk.setdefault(name, []).append(u)
                taken[name] = taken.get(name, 0) + 1
            self._chunk_items += 1
            if covered >= budget:
                break
        return chunk

    def _magnitudes(self, units: UnitMap, costs, x: torch.Tensor, y: torch.Tensor,
                    example: torch.Tensor) -> dict[str, np.ndarray]:
        """Per unit, the L1 magnitude of its weights (Torch-Pruning's group importance, as the
        L1 baseline computes it), scaled per layer by its largest value."""
        from .baselines import baseline_scores

        raw = baseline_scores("l1", self.model, units, x, y, example, seed=self.settings.seed)
        out = {}
        for name in costs:
            v = np.asarray(raw[name].detach().double().cpu() if torch.is_tensor(raw[name]) else raw[name],
                           dtype=float)
            out[name] = v / max(float(np.abs(v).max()), 1e-12)
        return out
