"""Build the causal explanatory graph of a model (METHOD.md, sections 3 and 4).

Two measurements, one graph:

* **Class graphs** (paper 2). For class ``c``, N correctly classified inputs of ``c``. Starting
  from ``E = {logit:c}``, the walk goes down the model: for each unit layer ``L`` that feeds the
  current effect set, every unit ``j`` of ``L`` is cut from ``E`` (a path intervention where a
  reader of ``L`` writes ``E`` directly; a node intervention on ``j`` otherwise, e.g. between a
  transformer's heads and its MLP, where the residual stream lies in between) and the class
  logit is recorded. ``j`` is kept when the intervened mean is significantly lower than the
  observed one (one-sided z-test, optional Benjamini-Hochberg); the kept units become ``E`` for
  the layers below. "Feeds" follows the model's wiring: the layers read by the modules that
  write ``E``; in a residual network the walk goes from the logits to the last stage's stream,
  from a stream to the blocks' inner channels and the previous stream, and so on. A layer
  already visited is not revisited, so the graph is a DAG by construction.
* **Global effects** (C-SWAP). For every unit (a group: it is removed with everything coupled to
  it) on a class-balanced calibration set: r(x) = p_y(x | do(unit removed)) / p_y(x), its mean
  xi, a CI, a paired test of log r against 0, and a category (critical / neutral / detrimental).

Interrupted builds resume from a checkpoint file; the same seed gives the same file.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from .build_checks import check_ignore, check_pool, check_settings, private_copy
from .checkpoint import (
    BuildCheckpoint,
    build_key,
    tensor_fingerprint,
    valid_block_entry,
    valid_class_entry,
    valid_global_entry,
)
from .data import DataBundle, class_balanced_indices, stack_samples
from .devices import model_device, resolve_device
from .distributed import Shard, blocks, current_shard
from .errors import CausalnetInputError
from .evaluate import predict_logits, prefer_channels_last, true_class_logp
from .fingerprint import model_fingerprint
from .first_order import first_order_effects
from .graph import CausalGraph
from .interventions import MODES, Ablation
from .memory import images_per_engine, make_engine
from .nodes import LOGIT_LAYER, logit_id
from .progress import progress
from .stats import adjust, drop_z_test, global_effect_test, paired_drop_test, z_critical
from .units import UnitLayer, UnitMap, discover_units

WALKS = ("joint", "paper2")


@dataclass
class BuildSettings:
    """Everything that decides the numbers in a graph (recorded in the graph's metadata)."""

    classes: list[int] | None = None      # None: every class
    samples_per_class: int = 100          # N, correctly classified inputs per class graph
    calibration_per_class: int = 20       # calibration images per class for global effects
    intervention: str = "zero"            # zero | mean | resample | soft | predicted
    beta: float = 0.0                     # soft interventions: u ~ U(beta, beta + 0.01)
    alpha: float = 0.05
    correction: str = "none"              # none | bh (Benjamini-Hochberg per tested layer)
    class_test: str = "two-sample"        # two-sample (paper 2) | paired
    walk: str = "paper2"                  # paper2 (one unit at a time) | joint (causalnet.joint_walk)
    walk_keep: float = 0.95               # joint walk: fraction of the class's inputs the graph keeps
    seed: int = 0
    edge_effects: str = "auto"            # auto | all | none: measure each edge's own effect
    max_edge_tests: int = 256             # "auto": per layer, kept causes x effects at most this
    global_effects: bool = True
    class_graphs: bool = True
    units_per_forward: int | str = "auto"  # >1 replicates the batch; auto: many for flat Linear readers, else 1
    screen: bool = False                  # fast mode: first-order screening before exact tests
    screen_margin: float = 1.5            # class walks: exact-test candidates within this many z
    global_screen_margin: float = 0.5     # global effects: ... within this many t units
    screen_min: int = 4                   # ... and always the top few by estimate

    def validate(self) -> None:
        if self.intervention not in MODES:
            raise CausalnetInputError(f"unknown intervention {self.intervention!r}; use one of {MODES}")
        if self.correction not in ("none", "bh"):
            raise CausalnetInputError(f"unknown correction {self.correction!r}; use 'none' or 'bh'")
        if self.class_test not in ("two-sample", "paired"):
            raise CausalnetInputError("class_test must be 'two-sample' (paper 2) or 'paired'")
        if self.walk not in WALKS:
            raise CausalnetInputError(f"unknown walk {self.walk!r}; use one of {WALKS} (joint: units the "
                                      "class needs together; paper2: one unit at a time, as published)")
        if self.walk == "joint" and self.intervention not in ("zero", "mean"):
            raise CausalnetInputError(f"the joint walk switches units off with zero or mean values, not "
                                      f"{self.intervention!r}; use --intervention zero|mean or --walk paper2")
        if not 0.0 < self.walk_keep <= 1.0:
            raise CausalnetInputError(f"walk_keep must be in (0, 1], got {self.walk_keep}")
        if self.edge_effects not in ("auto", "all", "none"):
            raise CausalnetInputError("edge_effects must be auto, all or none")
        check_settings(self)


def _as_bundle(data) -> DataBundle:
    if isinstance(data, DataBundle):
        return data
    if isinstance(data, tuple) and len(data) == 2:
        from .data import TensorImageDataset

        ds = TensorImageDataset(data[0], data[1], name="tensors")
        return DataBundle(spec="tensors", fit=ds, eval=ds)
    if hasattr(data, "targets"):
        return DataBundle(spec=getattr(data, "name", "dataset"), fit=data, eval=data)
    raise CausalnetInputError("data must be a DataBundle (causalnet.load_data), a dataset with "
                              "`targets`, or an (images, labels) pair of tensors")


def _versions() -> dict[str, str]:
    import captum
    import networkx
    import torch_pruning

    from . import __version__
    out = {"causalnet": __version__, "torch": torch.__version__, "networkx": networkx.__version__,
           "torch_pruning": torch_pruning.__version__, "captum": captum.__version__}
    try:
        import timm
        out["timm"] = timm.__version__
    except ImportError:
        pass
    return out


class GraphBuilder:
    """Builds a :class:`CausalGraph` for one model; ``build(data)`` is the one verb.

    ``show_progress`` prints progress bars (off by default: library calls stay quiet).
    ``checkpoint`` names a file where finished steps are saved so a killed build resumes.
    ``shard`` (default: this process's rank under torch.distributed, see
    :mod:`causalnet.distributed`): the share of the units and classes this process measures;
    shares are gathered, so every rank returns the same graph and rank 0 writes ``out``.
    ``max_memory`` (bytes; None: no limit): intervention engines hold at most the images that fit
    (:mod:`causalnet.memory`); zero and mean interventions give the same numbers either way.
    ``device`` (default: where the model is): the private copy the build works on is moved there
    (``"cuda"``: every intervention on the GPU); the user's model stays where it is, and the
    statistics come back to the CPU, so the graph differs from a CPU build only by float rounding.
    """

    def __init__(self, model: nn.Module, settings: BuildSettings | None = None, *,
                 show_progress: bool = False, checkpoint: str | os.PathLike | None = None,
                 ignore: list[str] | tuple = (), shard: Shard | None = None,
                 max_memory: int | None = None, device: str | torch.device | None = None):
        self.model = model
        self.device = resolve_device(device) if device is not None else None
        self.settings = settings or BuildSettings()
        self.settings.validate()
        self.show_progress = show_progress
        self.checkpoint_path = checkpoint
        self.ignore = ignore
        self.timings: dict[str, float] = {}
        self.reused = 0   # checkpointed steps the last build() took instead of recomputing
        self._net: nn.Module | None = None   # the private working copy, during build()
        self.shard = shard if shard is not None else current_shard()
        self.max_memory = max_memory
        self._per = 1 << 30   # images one intervention engine holds (set from max_memory in build())

    # ---------------------------------------------------------------- data selection
    def _check_runs(self, bundle: DataBundle) -> torch.Tensor:
        x0 = bundle.fit[0][0].unsqueeze(0).to(model_device(self._net))
        try:
            with torch.inference_mode():
                out = self._net.eval()(x0)
        except RuntimeError as exc:
            raise CausalnetInputError(
                f"the model cannot run on this data's inputs (shape {tuple(x0.shape[1:])}): {exc}. "
                "Check that the data spec matches the model (channels, image size)") from None
        if out.ndim != 2:
            raise CausalnetInputError(f"the model returns shape {tuple(out.shape)}, not (batch, classes)")
        if out.shape[1] < bundle.num_classes:
            raise CausalnetInputError(f"the model has {out.shape[1]} outputs but the data has "
                                      f"{bundle.num_classes} classes; use a model trained on this data")
        return x0

    def _classes(self, bundle: DataBundle, n_outputs: int) -> list[int]:
        present = sorted(int(c) for c in torch.unique(torch.as_tensor(bundle.fit.targets)))
        if self.settings.classes is None:
            return present
        bad = [c for c in self.settings.classes if c not in present or c >= n_outputs]
        if bad:
            raise CausalnetInputError(f"unknown class index {bad}; this data has classes "
                                      f"{present[0]}..{present[-1]}")
        return sorted(set(self.settings.classes))

    def _class_samples(self, bundle: DataBundle, c: int) -> torch.Tensor:
        """Up to N inputs of class c that the model classifies correctly (seeded choice)."""
        s = self.settings
        targets = torch.as_tensor(bundle.fit.targets)
        pool = int((targets == c).sum())
        take = min(pool, 3 * s.samples_per_class)
        idx = class_balanced_indices(targets, take, seed=s.seed + 1000 + c, classes=[c])
        x, y = stack_samples(bundle.fit, idx)
        logits, _ = predict_logits(self._net if self._net is not None else self.model, (x, y))
        correct = x[logits.argmax(1) == c][: s.samples_per_class]
        if len(correct) < 2:
            raise CausalnetInputError(
                f"class {c} has {len(correct)} correctly classified sample(s) among {take} drawn; a "
                "class graph needs at least 2. Check that the model and data match, or leave the "
                "class out with --classes")
        return correct

    # ---------------------------------------------------------------- global effects
    def _calibration(self, bundle: DataBundle) -> tuple[torch.Tensor, torch.Tensor]:
        """The class-balanced calibration set: the inputs of the global effects, and the
        reference population of mean and predicted interventions everywhere."""
        s = self.settings
        targets = torch.as_tensor(bundle.fit.targets)
        idx = class_balanced_indices(targets, s.calibration_per_class, seed=s.seed, strict=False)
        return stack_samples(bundle.fit, idx)

    def _global_effects(self, units: UnitMap, calibration: tuple[torch.Tensor, torch.Tensor],
                        ckpt: BuildCheckpoint) -> dict:
        s = self.settings
        x, y = calibration
        results = {}
        engine = None
        for layer in progress(units.layers, show=self.show_progress and self.shard.main,
                              desc="global effects", unit="layer"):
            saved = ckpt.get("global", layer.name, lambda e, n=layer.size: valid_global_entry(e, n))
            if saved is None:
                if engine is None:
                    engine = self._engine(units, x, ablation=self._ablation(0))
                    clean_lp = true_class_logp(engine.clean, y)
                engine.ablation = self._ablation(layer.order + 1)
                exact = list(range(layer.size))
                log_ratio = np.zeros((layer.size, len(y)))
                if s.screen:
                    est = first_order_effects(
                        engine, layer, lambda lg, rows=slice(None): true_class_logp(lg, y[rows]),
                        key="log_p_true")
                    log_ratio = est.double().numpy()
                    t_est = np.abs(np.nan_to_num(global_effect_test(log_ratio, s.alpha).mean_log_ratio
                                                 / (log_ratio.std(1, ddof=1) / np.sqrt(len(y)) + 1e-12)))
                    exact = self._screened(t_est, z_critical(s.alpha / 2), s.global_screen_margin)
                parts = blocks(exact)
                done = {}
                for i in self.shard.mine(range(len(parts))):
                    name = f"{layer.name}#{i}"
                    size = len(parts[i])
                    rows = ckpt.get("blocks", name, lambda e, m=size: valid_block_entry(e, m, len(y)))
                    if rows is None:
                        lp = true_class_logp(engine.ablate(layer, parts[i]), y)
                        rows = (lp - clean_lp).double().tolist()
                        ckpt.put("blocks", name, rows)
                    done[i] = rows
                for share in self.shard.gather(done):
                    for i, rows in share.items():
                        log_ratio[parts[i]] = np.asarray(rows, dtype=np.float64)
                test = global_effect_test(log_ratio, s.alpha)
                per_class = {int(c): log_ratio[:, (y == c).numpy()].mean(axis=1).tolist()
                             for c in torch.unique(y).tolist()}
                saved = {"xi": test.xi.tolist(), "ci_low": test.ci_low.tolist(),
                         "ci_high": test.ci_high.tolist(), "p": test.p.tolist(),
                         "mean_log_ratio": test.mean_log_ratio.tolist(), "class_effects": per_class,
                         "n_calibration": len(y), "exact": [j in set(exact) for j in range(layer.size)]}
                ckpt.drop("blocks", f"{layer.name}#")
                ckpt.put("global", layer.name, saved)
            results[layer.name] = saved
        return results

    def _engine(self, units: UnitMap, x: torch.Tensor, *, ablation: Ablation,
                reference: torch.Tensor | None = None):
        """An intervention engine on ``x``, split over images where ``max_memory`` demands it."""
        return make_engine(self._net, units, x, per=self._per, ablation=ablation, reference=reference,
                           units_per_forward=self.settings.units_per_forward)

    def _screened(self, score: np.ndarray, threshold: float, margin: float | None = None) -> list[int]:
        """Candidates that need an exact test: estimated statistic within ``margin`` of the
        threshold, plus the top ``screen_min`` by estimate."""
        s = self.settings
        margin = s.screen_margin if margin is None else margin
        keep = set(np.flatnonzero(score > threshold - margin).tolist())
        keep |= set(np.argsort(-score, kind="stable")[: s.screen_min].tolist())
        return sorted(int(j) for j in keep)

    def _drop_test(self, observed, intervened):
        test = paired_drop_test if self.settings.class_test == "paired" else drop_z_test
        return test(observed, intervened)

    def _ablation(self, salt: int) -> Ablation:
        s = self.settings
        return Ablation(s.intervention, s.beta, seed=s.seed * 1_000_003 + salt)

    # ---------------------------------------------------------------- class walk
    def _parents(self, units: UnitMap, upper: str, visited: set[str]) -> list[tuple[UnitLayer, list[str]]]:
        """Layers feeding ``upper`` (with the readers that write it), not yet visited."""
        producers = set(units.producers_of(upper))
        direct = [(layer, [r.name for r in layer.readers if r.name in producers])
                  for layer in units.layers]
        direct = [(layer, rs) for layer, rs in direct if rs]
        if not direct:  # e.g. a transformer: the residual stream lies between unit layers
            upper_order = len(units.layers) if upper == "logit" else units.layer(upper).order
            below = [layer for layer in units.layers if layer.order < upper_order]
            direct = [(below[-1], [])] if below else []
        return sorted([(layer, rs) for layer, rs in direct if layer.name not in visited],
                      key=lambda t: -t[0].order)

    def _out_index(self, units: UnitMap, upper: str, reader: str, effects: list[int]) -> torch.Tensor:
        if upper == "logit":
            return torch.tensor(effects, dtype=torch.long)
        idx = units.layer(upper).producer_index[reader]
        return torch.tensor([idx[e] for e in effects], dtype=torch.long)

    def _class_walk(self, units: UnitMap, x: torch.Tensor, c: int,
                    reference: torch.Tensor | None = None) -> dict:
        """The top-down walk for class c; returns kept nodes, edges and a per-layer log.
        ``reference``: the population whose statistics mean and predicted interventions use
        (the N inputs are all of class c: their own mean would keep the class's typical value
        and measure nothing)."""
        s = self.settings
        engine = self._engine(units, x, ablation=self._ablation(10_000 * (c + 1)), reference=reference)
        observed = engine.clean[:, c].double().numpy()
        edges: list[list] = []
        log: list[dict] = []
        visited: set[str] = {"logit"}
        frontier: list[tuple[str, list[int]]] = [("logit", [c])]
        while frontier:
            upper, effects = frontier.pop(0)
            for layer, readers in self._parents(units, upper, visited):
                visited.add(layer.name)
                mode = "edge" if readers else "node"
                splice = ({r: self._out_index(units, upper, r, effects) for r in readers}
                          if readers else None)
                intervened = np.zeros((layer.size, len(observed)))
                exact = list(range(layer.size))
                if s.screen:
                    est = first_order_effects(engine, layer, lambda lg, rows=None: lg[:, c],
                                              readers=readers or None, splice=splice, key=f"logit{c}")
                    intervened = observed[None, :] + est.double().numpy()
                    exact = self._screened(self._drop_test(observed, intervened).z, z_critical(s.alpha))
                logits = engine.ablate(layer, exact, readers=readers or None, splice=splice)
                intervened[exact] = logits[:, :, c].double().numpy()
                test = self._drop_test(observed, intervened)
                if s.screen:  # units ruled out by the screen are not kept, whatever the estimate
                    ruled_out = np.ones(layer.size, bool)
                    ruled_out[exact] = False
                    test.p[ruled_out] = np.maximum(test.p[ruled_out], 1.0)
                p_adj = adjust(test.p, s.correction)
                kept = [int(j) for j in np.flatnonzero(p_adj < s.alpha)]
                log.append({"layer": layer.name, "effects_of": upper, "mode": mode,
                            "candidates": layer.size, "exact_tests": len(exact), "kept": len(kept)})
                edges += self._edges(engine, units, layer, upper, readers, effects, kept, test,
                                     p_adj, observed, c, mode)
                if kept:
                    frontier.append((layer.name, kept))
        return {"n_samples": len(x), "edges": edges, "layers_tested": log,
                "observed_mean": float(observed.mean())}

    def _joint_walk(self, units: UnitMap, x: torch.Tensor, c: int, reference: torch.Tensor) -> dict:
        """Class c's joint walk (:mod:`causalnet.joint_walk`): the units it needs together."""
        from .joint_walk import JointWalk
        from .masking import reader_means

        s = self.settings
        if s.intervention == "mean" and self._means is None:
            self._means = reader_means(self._net, units, reference)
        return JointWalk(self._net, units, x, c, ablation=self._ablation(10_000 * (c + 1)),
                         keep=s.walk_keep, reference=reference,
                         means=self._means if s.intervention == "mean" else None,
                         parents=lambda upper, visited: self._parents(units, upper, visited),
                         per=self._per).run()

    def _edges(self, engine, units, layer, upper, readers, effects, kept, test, p_adj, observed,
               c, mode) -> list[list]:
        """Edges from each kept unit to the effects it feeds, with each edge's own effect where
        affordable (a path intervention j -> {e}); otherwise joined to every effect."""
        s = self.settings
        upper_ids = [logit_id(c)] if upper == LOGIT_LAYER else [units.layer(upper).node_id(e) for e in effects]
        per_edge = (mode == "edge" and len(effects) > 1 and kept and
                    (s.edge_effects == "all" or
                     (s.edge_effects == "auto" and len(kept) * len(effects) <= s.max_edge_tests)))
        out = []
        if not per_edge:
            for j in kept:
                for v in upper_ids:
                    out.append([layer.node_id(j), v, test.drop[j], test.rel_drop[j], test.z[j],
                                float(p_adj[j]), mode])
            return out
        best: dict[int, tuple] = {}
        linked: set[int] = set()
        for k, e in enumerate(effects):
            splice = {r: self._out_index(units, upper, r, [e]) for r in readers}
            logits = engine.ablate(layer, kept, readers=readers, splice=splice)
            et = self._drop_test(observed, logits[:, :, c].double().numpy())
            for i, j in enumerate(kept):
                row = [layer.node_id(j), upper_ids[k], et.drop[i], et.rel_drop[i], et.z[i],
                       float(et.p[i]), "edge"]
                if et.p[i] < s.alpha:
                    out.append(row)
                    linked.add(j)
                if j not in best or et.z[i] > best[j][4]:
                    best[j] = row
        out += [best[j] for j in kept if j not in linked]  # every kept cause keeps its strongest edge
        return out

    # ---------------------------------------------------------------- the verb
    def build(self, data, *, model_spec: str | None = None,
              out: str | os.PathLike | None = None) -> CausalGraph:
        """Build the graph on ``data`` (a DataBundle, dataset or (images, labels) pair).

        ``out``: write the graph there (atomically) before the checkpoint is deleted, so a
        kill or a failed write never loses the finished work."""
        s = self.settings
        bundle = _as_bundle(data)
        model = self.model
        fingerprint = model_fingerprint(model)
        # interventions run on a private copy (without the user's hooks) in the fastest memory
        # format that gives the model's own outputs (channels_last ran CNN forwards 2-3x faster
        # here); the user's model is never touched
        check_ignore(model, self.ignore)
        self._net = private_copy(model)
        if self.device is not None:
            self._net.to(self.device)
        self._means = None
        ckpt = None
        try:
            x0 = self._check_runs(bundle)
            prefer_channels_last(self._net, x0)
            self._per = images_per_engine(self._net, x0, self.max_memory)
            t0 = time.perf_counter()
            units = discover_units(self._net, x0, ignore=self.ignore)
            classes = self._classes(bundle, units.num_outputs)
            targets = torch.as_tensor(bundle.fit.targets)
            check_pool(s, {c: int((targets == c).sum()) for c in classes})
            calibration = self._calibration(bundle)
            # every class's inputs are drawn (and checked) before any work, and the checkpoint
            # is keyed on the images actually drawn, not on the data spec
            inputs = ({c: self._class_samples(bundle, c) for c in classes} if s.class_graphs else {})
            key = build_key(fp=fingerprint, settings=asdict(s), classes=classes, ignore=sorted(self.ignore),
                            calibration=tensor_fingerprint(calibration),
                            inputs={str(c): tensor_fingerprint([x]) for c, x in inputs.items()})
            ckpt = BuildCheckpoint(self.checkpoint_path, key, rank=self.shard.rank)
            global_fx = self._global_effects(units, calibration, ckpt) if s.global_effects else {}
            self.timings["global_effects"] = time.perf_counter() - t0
            walks = {}
            t1 = time.perf_counter()
            node_ids = {layer.node_id(j) for layer in units.layers for j in range(layer.size)}
            node_ids |= {f"logit:{c}" for c in classes}
            if s.class_graphs:
                mine = {}
                for c in progress(self.shard.mine(classes), show=self.show_progress and self.shard.main,
                                  desc="class graphs", unit="class"):
                    walk = ckpt.get("classes", str(c), lambda e: valid_class_entry(e, node_ids))
                    if walk is None:
                        walk = (self._joint_walk(units, inputs[c], c, calibration[0]) if s.walk == "joint"
                                else self._class_walk(units, inputs[c], c, calibration[0]))
                        ckpt.put("classes", str(c), walk)
                    mine[c] = walk
                for share in self.shard.gather(mine):
                    walks.update(share)
                walks = {c: walks[c] for c in classes}
            self.timings["class_graphs"] = time.perf_counter() - t1
            graph = self._assemble(units, bundle, classes, global_fx, walks, fingerprint, model_spec,
                                   calibration[1] if s.global_effects else None)
            self.reused = ckpt.reused
            if out is not None and self.shard.main:
                graph.save(out)
            self.shard.barrier()   # every rank is done writing its checkpoint
            if self.shard.main:
                ckpt.discard()
            return graph
        except BaseException:
            if ckpt is not None:   # keep the blocks finished since the last write
                with contextlib.suppress(Exception):
                    ckpt.flush()
            raise
        finally:
            self._net = None

    def _assemble(self, units, bundle, classes, global_fx, walks, fingerprint, model_spec,
                  calibration_y=None) -> CausalGraph:
        s = self.settings
        created = os.environ.get("SOURCE_DATE_EPOCH")
        created = (datetime.datetime.fromtimestamp(int(created), datetime.timezone.utc).date()
                   if created else datetime.date.today()).isoformat()
        graph = CausalGraph(
            model={"spec": model_spec or type(self.model).__name__, "fingerprint": fingerprint,
                   "architecture": type(self.model).__name__, "num_classes": units.num_outputs,
                   "input_shape": list(bundle.input_shape)},
            data={"spec": bundle.spec, "samples_per_class": s.samples_per_class,
                  "calibration_per_class": s.calibration_per_class,
                  "samples_used": {str(c): w["n_samples"] for c, w in walks.items()},
                  "calibration_used": len(calibration_y) if calibration_y is not None else 0},
            settings={**asdict(s), "classes": classes,
                      **({"ignore": sorted(self.ignore)} if self.ignore else {}),
                      "global_test": "one-sample t-test of log r against 0 (two-sided)",
                      "class_test_description": (
                          "joint walk: per layer the fewest top units (first-order margin effect) that "
                          f"keep {s.walk_keep:.0%} of the class's inputs together" if s.walk == "joint"
                          else "one-sided paired z-test of the class logit" if s.class_test == "paired"
                          else "one-sided two-sample z-test of the class logit (paper 2)")},
            layers=[{"name": layer.name, "kind": layer.kind, "size": layer.size, "order": layer.order,
                     "group": layer.name, "readers": [r.name for r in layer.readers],
                     "producers": layer.producers} for layer in units.layers],
            skipped=units.skipped, versions=_versions(), created=created,
            class_graphs={str(c): {"n_samples": w["n_samples"], "layers_tested": w["layers_tested"],
                                   "observed_mean_logit": w["observed_mean"],
                                   "stopped_at": w["layers_tested"][-1]["layer"] if w["layers_tested"] else None}
                          for c, w in walks.items()})
        categories = {}
        for layer in units.layers:
            g = global_fx.get(layer.name)
            if g is not None:
                from .stats import GlobalEffect
                ge = GlobalEffect(*(np.asarray(g[k]) for k in ("xi", "ci_low", "ci_high", "p", "mean_log_ratio")))
                categories[layer.name] = ge.categories(s.alpha, s.correction)
            for j in range(layer.size):
                attrs = {}
                if g is not None:
                    attrs = {"xi": g["xi"][j], "xi_ci_low": g["ci_low"][j], "xi_ci_high": g["ci_high"][j],
                             "p_value": g["p"][j], "category": categories[layer.name][j],
                             "xi_method": "exact" if g["exact"][j] else "first_order",
                             "class_effects": {int(c): v[j] for c, v in g["class_effects"].items()}}
                graph.add_unit(layer.node_id(j), layer=layer.name, index=j, kind=layer.kind,
                               group=layer.name, order=layer.order, **attrs)
        for c in classes:
            graph.add_logit(c, order=len(units.layers))
        for c, walk in walks.items():
            for u, v, effect, rel, z, p, mode in walk["edges"]:
                graph.add_edge(u, v, c, effect, rel, z, p, mode)
        graph.validate()
        return graph


def build_graph(model: nn.Module, data, *, show_progress: bool = False,
                checkpoint: str | os.PathLike | None = None, model_spec: str | None = None,
                **settings) -> CausalGraph:
    """Build the causal explanatory graph of ``model`` on ``data``.

    Args:
        model: the trained model (left unchanged: interventions run on a private copy).
        data: a :class:`~causalnet.data.DataBundle` (samples from ``fit``), a dataset, or an
            ``(images, labels)`` pair.
        show_progress: progress bars for the global effects and the class walks.
        checkpoint: a JSON file that records finished work; an interrupted build given the
            same file resumes from it (keyed on the images drawn, the model, the settings).
        model_spec: the spec string to record in the graph (``"zoo:resnet20"``).
        **settings: any field of :class:`BuildSettings` (``classes``, ``samples_per_class``,
            ``intervention``, ``alpha``, ``correction``, ``screen``, ``seed``, ...).

    Returns:
        The :class:`~causalnet.graph.CausalGraph`: class graphs, global effects, categories.
    """
    return GraphBuilder(model, BuildSettings(**settings), show_progress=show_progress,
                        checkpoint=checkpoint).build(data, model_spec=model_spec)


__all__ = ["BuildSettings", "GraphBuilder", "build_graph"]
