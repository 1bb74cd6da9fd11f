"""The intervention engine: switch units off (``do(u := v)``) and cut edges, fast and exactly
(METHOD.md, section 2).

``do(u := v)`` replaces unit ``u`` wherever it is read: v = 0 (zero ablation, the default), the
unit's mean over reference data (mean ablation: what pruning with the mean folded into the
consumer's bias does), its value on another input (resample), or a small random value
u ~ U(beta, beta + 0.01) (soft), or its least-squares prediction from the reader's other inputs
(predicted: what re-solving the reader without the unit restores; used to score pruning, not
offered by ``causalnet build``), or removed with every reader's weights re-solved by least
squares on the others (refit: exactly what the lsq repair does for one unit, in closed form; for
pruning scores, node interventions only). A path (edge) intervention cuts unit ``u``'s contribution to a
set S of one reader's outputs only: the reader is run on the clean and on the intervened input,
S is taken from the second run and every other output from the first; other readers see ``u``
untouched.

Speed, with the same numbers as the naive loop (one unit, one full forward):
- cached prefixes: every module that finishes before the first intervened reader starts is
  replaced, for the duration of the call, by its cached clean output, so only the suffix runs;
- the first reader is not recomputed either: its cached clean output is corrected by the
  unit's own contribution (a Conv2d/Linear is linear in its input), one channel's worth of work.
The engine can also replicate the batch and switch one unit off per replica
(``units_per_forward``). On the CPU measured here that was slower than one unit per forward for
convolutional and token-wise suffixes and faster for flat linear ones, so by default
(``"auto"``) it replicates only for the latter, by a fixed rule: the same seed gives the same
numbers to the last bit. For a flat Linear reader it replicates only the reader's corrected
output and what follows it (up to 8192 rows per forward), never the prefix; where the model
reads the prefix again after that reader (a shape clash), it falls back to full replicas. Soft values and resample donors are drawn once per unit from the seed
and the layer's name, so they do not depend on how units are grouped into forwards either.
The user's model is never changed: hooks are removed and modules restored even on error.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .attention import split_heads
from .devices import model_device
from .errors import CausalnetInputError
from .evaluate import wants_channels_last
from .masking import overwrite_channels
from .units import Reader, UnitLayer, UnitMap

MODES = ("zero", "mean", "resample", "soft", "predicted")   # what a graph build may use
SCORING_MODES = (*MODES, "refit")                            # ... and what pruning scores may use
LSQ_RIDGE = 1e-3   # the least-squares ridge, relative to the mean input variance: the "predicted"
                   # and "refit" modes here and the lsq repair (pruning/reconstruct.py) share it


@dataclass(frozen=True)
class Ablation:
    """How a unit is switched off: ``mode`` in zero|mean|resample|soft|predicted; ``beta`` for soft.

    ``predicted`` replaces a unit by its least-squares prediction from the other units its
    reader sees (at the same position): what a reader re-solved by least squares without the unit
    would read, so the effect measured is the unit's information the others cannot restore.

    ``refit`` removes the unit and re-solves every Conv2d (groups=1) or Linear reader by least
    squares on the reader's remaining inputs (im2col patches for a convolution, ridge-regularised
    like the lsq repair, fitted on the reference data): the harm measured is what the lsq repair
    cannot restore. Other readers (depthwise convolutions) see the unit's mean, and so does a
    reader whose solve has fewer than ``refit_min_rows`` rows of reference data per input
    column (0, the default: every reader is re-solved; a Linear reader of 400 inputs re-solved
    on 100 images fits noise, a convolution has a row per image and position). Node
    interventions only (no ``splice``)."""

    mode: str = "zero"
    beta: float = 0.0
    seed: int = 0
    refit_min_rows: float = 0.0

    def __post_init__(self):
        if self.mode not in SCORING_MODES:
            raise CausalnetInputError(f"unknown intervention {self.mode!r}; use one of {', '.join(SCORING_MODES)}")
        if not self.refit_min_rows >= 0:
            raise CausalnetInputError(f"refit_min_rows is a number of rows per column, at least 0; "
                                      f"got {self.refit_min_rows}")


def _mask_view(ndim: int, channel_dim: int, r: int, c: int) -> list[int]:
    """Broadcast shape for a (r, c) per-replica, per-channel tensor against a (r, n, ...)
    tensor of ``ndim`` dims whose channels sit at ``channel_dim`` of the un-replicated input."""
    view = [1] * ndim
    view[0] = r
    view[channel_dim + 1 if channel_dim >= 0 else ndim + channel_dim] = c
    return view


def _restore_forward(module: nn.Module, old) -> None:
    del module.forward
    if old is not None:
        module.forward = old


def _tile(t: torch.Tensor, r: int) -> torch.Tensor:
    """``t`` repeated ``r`` times along the batch, keeping channels_last where ``t`` has it (a
    format change would send every following convolution down a slow path)."""
    if r == 1:
        return t
    out = t.repeat(r, *([1] * (t.ndim - 1)))
    if t.ndim == 4 and t.is_contiguous(memory_format=torch.channels_last):
        out = out.contiguous(memory_format=torch.channels_last)
    return out


class _CallRecorder:
    """Records, for one clean forward, every module's call span and outputs."""

    def __init__(self, model: nn.Module):
        self.model = model
        self.clock = 0
        self.spans: dict[str, list[tuple[int, int]]] = {}
        self.outputs: dict[str, list] = {}

    def run(self, x: torch.Tensor) -> torch.Tensor:
        handles = []
        starts: dict[str, list[int]] = {}
        for name, module in self.model.named_modules():
            if name == "":
                continue

            def pre(mod, args, name=name):
                starts.setdefault(name, []).append(self.clock)
                self.clock += 1

            def post(mod, args, out, name=name):
                self.spans.setdefault(name, []).append((starts[name][-1], self.clock))
                self.outputs.setdefault(name, []).append(out)
                self.clock += 1

            handles.append(module.register_forward_pre_hook(pre))
            handles.append(module.register_forward_hook(post))
        try:
            return self.model(x)
        finally:
            for h in handles:
                h.remove()


_SHAPE_CLASH = ("must match the size", "shapes cannot be multiplied", "is invalid for input of size",
                "sizes of tensors must match", "expected size", "size mismatch", "does not match")


def _is_shape_clash(exc: RuntimeError) -> bool:
    """Whether ``exc`` is a tensor-shape mismatch (what a replicated batch meeting an
    un-replicated one raises), as opposed to any other error of the model."""
    text = str(exc).lower()
    return any(s in text for s in _SHAPE_CLASH)


class InterventionEngine:
    """Runs ``model`` on a fixed batch under many interventions on its units.

    ``engine = InterventionEngine(model, unit_map, x, ablation=Ablation("mean"), reference=x_ref)``
    then ``engine.ablate(layer, units)`` gives the logits with each unit switched off, shaped
    (len(units), N, classes). ``reference`` (default: ``x``) supplies the means of mean ablation
    (or ``means``, already computed by another engine over the same reference).

    The engine runs on the device of ``model`` (its batches, masks and indices are moved there)
    and hands its results back on the CPU: ``clean``, ``ablate`` and
    :func:`causalnet.first_order.first_order_effects` give CPU tensors whatever the device.
    """

    def __init__(self, model: nn.Module, unit_map: UnitMap, x: torch.Tensor, *,
                 ablation: Ablation = Ablation(), reference: torch.Tensor | None = None,
                 units_per_forward: int | str = "auto", cache_prefix: bool = True,
                 means: dict[str, torch.Tensor] | None = None):
        self.model = model
        self.unit_map = unit_map
        self.ablation = ablation
        self.units_per_forward = units_per_forward if units_per_forward == "auto" else max(1, int(units_per_forward))
        self._derived: dict = {}
        self._tiled: dict = {}
        self._untiled_failed: set[str] = set()
        self._soft: dict[tuple, torch.Tensor] = {}
        self._perm: dict[tuple, torch.Tensor] = {}
        self._layer_of = {id(rd): layer for layer in unit_map for rd in layer.readers}
        self._readers = {rd.name: rd for layer in unit_map for rd in layer.readers}
        self.cache_prefix = cache_prefix
        self.modules = dict(model.named_modules())
        self._channels_last = wants_channels_last(model)
        self.device = model_device(model)
        self._moved: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}   # id -> (tensor, on device)
        self.x = self._fmt(x.to(self.device))
        self.n = len(x)
        with self._eval(), torch.inference_mode(), split_heads(model):
            self.recorder = _CallRecorder(model)
            self.clean = self.recorder.run(self.x).float().cpu()
            self.means = ({k: v.to(self.device) for k, v in means.items()} if means is not None
                          else self._reader_means(reference)) if ablation.mode in ("mean", "refit") else {}
            self.refits = (self._reader_refits(reference, ablation.refit_min_rows)
                           if ablation.mode == "refit" else {})
            self.predictors = self._reader_predictors(reference) if ablation.mode == "predicted" else {}

    # ---- helpers -------------------------------------------------------------------------
    def _on(self, t: torch.Tensor) -> torch.Tensor:
        """``t`` (an index of the unit map, which lives on the CPU) on the engine's device,
        moved once per tensor; ``t`` itself when the engine runs on the CPU."""
        if t.device == self.device:
            return t
        key = id(t)
        if key not in self._moved:
            self._moved[key] = (t, t.to(self.device))   # keep t alive: its id stays its own
        return self._moved[key][1]

    def _fmt(self, x: torch.Tensor) -> torch.Tensor:
        if self._channels_last and x.ndim == 4:
            return x.contiguous(memory_format=torch.channels_last)
        return x

    @contextmanager
    def _eval(self):
        was = self.model.training
        self.model.eval()
        try:
            yield
        finally:
            self.model.train(was)

    def _per_reader(self, reference: torch.Tensor | None, summary) -> dict:
        """``summary(reader, input)`` of every reader's input in one forward of the reference data."""
        found: dict = {}
        handles = []
        for reader in self._readers.values():
            def pre(mod, args, reader=reader):
                found[reader.name] = summary(reader, args[0])
            handles.append(reader.module.register_forward_pre_hook(pre))
        try:
            self.model(self._fmt(reference.to(self.device) if reference is not None else self.x))
        finally:
            for h in handles:
                h.remove()
        return found

    def _reader_means(self, reference: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """Per-input-channel mean of every reader's input over the reference data."""
        return self._per_reader(reference, lambda reader, t: reader.channel_mean(t))

    def _reader_predictors(self, reference: torch.Tensor | None, ridge: float = LSQ_RIDGE
                           ) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """Per reader, ``(mean, Q)`` over the reference data: a unit's inputs ``x_S`` are predicted
        from the reader's other inputs as ``x_S - Q[S] @ (x - mean)``, with
        ``Q[S] = inv(P[S, S]) @ P[S]`` for the ridge-regularised precision matrix ``P`` (``ridge``
        relative to the mean variance, as in the least-squares repair)."""
        def moments(reader: Reader, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            d = reader.axis(t.ndim)
            rows = t.detach().movedim(d, -1).reshape(-1, t.shape[d]).double()
            mean = rows.mean(0)
            centred = rows - mean
            return mean, centred.T @ centred / max(len(rows), 1)

        stats = self._per_reader(reference, moments)
        out = {}
        for name, (mean, cov) in stats.items():
            size = len(mean)
            lam = ridge * cov.diagonal().mean() + 1e-12   # a tensor: no sync with the device
            precision = torch.linalg.inv(cov + lam * torch.eye(size, dtype=cov.dtype, device=cov.device))
            q = torch.zeros(size, size, dtype=cov.dtype, device=cov.device)
            for idx in self._readers[name].index:
                idx = self._on(idx)
                q[idx] = torch.linalg.solve(precision[idx][:, idx], precision[idx])
            out[name] = (mean.float(), q.float())
        return out

    def _reader_refits(self, reference: torch.Tensor | None, min_rows: float = 0.0
                       ) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """Per Conv2d (groups=1, zero padding) or Linear reader with at least ``min_rows`` rows
        of reference data per input column: ``(mean, P)``, the mean and the ridge-regularised
        precision matrix of its input columns (im2col patches of a convolution, in the weight's
        (channel, kh, kw) order) over the reference data."""
        def moments(reader: Reader, t: torch.Tensor):
            rows = _columns(reader.module, t)
            if rows is None or len(rows) < min_rows * rows.shape[1]:
                return None
            rows = rows.double()
            mean = rows.mean(0)
            centred = rows - mean
            return mean, centred.T @ centred / max(len(rows), 1)

        out = {}
        for name, st in self._per_reader(reference, moments).items():
            if st is None:
                continue
            mean, cov = st
            lam = LSQ_RIDGE * cov.diagonal().mean() + 1e-12
            out[name] = (mean, torch.linalg.inv(cov + lam * torch.eye(len(mean), dtype=cov.dtype,
                                                                        device=cov.device)))
        return out

    def _refit_forward(self, reader: Reader, unit: int):
        """A forward for ``reader`` with its weights and bias re-solved by least squares
        without ``unit``'s inputs: ``W' = W - W_S P_SS^-1 P_S.`` (so ``W'_S = 0``) and
        ``b' = b + W_S P_SS^-1 P_S. mean``, the closed form of the ridge solve on the
        reference data (``P``: the precision matrix of the reader's input columns)."""
        module = reader.module
        mean, prec = self.refits[reader.name]
        w = module.weight.reshape(module.weight.shape[0], -1)
        per = w.shape[1] // reader.in_size                     # columns per input channel
        idx = self._on(reader.index[unit])
        cols = (idx[:, None] * per + torch.arange(per, device=idx.device)[None, :]).reshape(-1)
        coef = torch.linalg.solve(prec[cols][:, cols], prec[cols])      # (|S|, columns)
        delta = -(w[:, cols].double() @ coef)                             # (out, columns)
        weight = (w.double() + delta).to(w.dtype).reshape(module.weight.shape)
        bias = -(delta @ mean).to(w.dtype)
        if module.bias is not None:
            bias = bias + module.bias

        def forward(x, *args, **kwargs):
            if isinstance(module, nn.Conv2d):
                return F.conv2d(x, weight, bias, module.stride, module.padding, module.dilation)
            return F.linear(x, weight, bias)
        return forward

    def _predicted_values(self, reader: Reader, t: torch.Tensor) -> torch.Tensor:
        """Every input channel of a (r, n, ...) reader input ``t`` replaced by its prediction
        from the channels of the other units (:meth:`_reader_predictors`)."""
        mean, q = self.predictors[reader.name]
        d = reader.channel_dim + 1 if reader.channel_dim >= 0 else t.ndim + reader.channel_dim
        x = t.movedim(d, -1).float()
        return (x - (x - mean) @ q.T).movedim(-1, d).to(t.dtype)

    def _soft_values(self, reader: Reader) -> torch.Tensor:
        """Per input channel of ``reader``: its unit's soft value u ~ U(beta, beta + 0.01).

        One draw per unit, seeded by the ablation seed and the layer's name, so a unit takes the
        same value at every reader, in every chunking of the units, in every run."""
        key = (reader.name, self.ablation.seed, self.ablation.beta)
        if key not in self._soft:
            layer, g = self._layer_draw(reader, 0)
            per_unit = torch.rand(layer.size, generator=g) * 0.01 + self.ablation.beta
            # drawn on the CPU (the same values on every device), used where the model runs
            self._soft[key] = (per_unit @ reader.mask(range(layer.size))).to(self.device)
        return self._soft[key]

    def _layer_draw(self, reader: Reader, salt: int) -> tuple[UnitLayer, torch.Generator]:
        layer = self._layer_of[id(reader)]
        seed = self.ablation.seed * 1_000_003 + zlib.crc32(layer.name.encode()) + salt
        return layer, torch.Generator().manual_seed(seed)

    def _donors(self, reader: Reader) -> torch.Tensor:
        """(units, n): for each unit of ``reader``'s layer, which input donates its value to
        each input of the batch (resample). One permutation per unit, seeded like the soft
        values, so every reader of a unit reads the same donor."""
        layer = self._layer_of[id(reader)]
        key = (layer.name, self.ablation.seed)
        if key not in self._perm:
            _, g = self._layer_draw(reader, 1)
            self._perm[key] = torch.stack([torch.randperm(self.n, generator=g)
                                           for _ in range(layer.size)]).to(self.device)
        return self._perm[key]

    def _resample_values(self, reader: Reader, t: torch.Tensor, units: Sequence[int] | None) -> torch.Tensor:
        """Resampled values for a (r, n, ...) input: replica i takes unit ``units[i]``'s donors.
        With ``units=None`` (r = 1), each channel takes the donors of the unit that owns it."""
        donors = self._donors(reader)
        if units is not None:
            return t[torch.arange(len(units), device=t.device)[:, None], donors[list(units)]]
        owner = self._on(reader.mask(range(len(donors))).argmax(0))  # (in_size,)
        d = reader.axis(t.ndim - 1)
        x = t[0].movedim(d, 0)                                       # (C, n, ...)
        idx = donors[owner].view(*donors[owner].shape, *[1] * (x.ndim - 2)).expand_as(x)
        return x.gather(1, idx).movedim(0, d).unsqueeze(0)

    def cached(self, key: str, build: Callable[[], Any]) -> Any:
        """``build()``, computed once per engine and ``key`` and kept: a quantity derived from
        the engine's fixed batch (the gradient cache of :mod:`causalnet.first_order`)."""
        if key not in self._derived:
            self._derived[key] = build()
        return self._derived[key]

    def replacement(self, reader: Reader, t: torch.Tensor) -> torch.Tensor:
        """What the intervention puts in place of every unit of ``reader``'s input ``t``
        (N, ...): a tensor shaped like ``t``, or one that broadcasts to it (a 0-d zero for zero
        ablation)."""
        v = self._values(reader, t.unsqueeze(0), 1)
        return v[0] if v.ndim == t.ndim + 1 else v

    def _values(self, reader: Reader, t: torch.Tensor, r: int,
                units: Sequence[int] | None = None) -> torch.Tensor:
        """The replacement values for a (r, n, ...) reader input ``t`` whose replica i
        switches off ``units[i]``."""
        mode = self.ablation.mode
        if mode == "zero":
            return torch.zeros((), dtype=t.dtype, device=t.device)
        if mode in ("mean", "refit"):   # refit: a reader that cannot be re-solved reads the mean
            view = _mask_view(t.ndim, reader.channel_dim, 1, reader.in_size)
            return self.means[reader.name].to(t.dtype).view(view)
        if mode == "soft":
            view = _mask_view(t.ndim, reader.channel_dim, 1, reader.in_size)
            return self._soft_values(reader).to(t.dtype).view(view)
        if mode == "predicted":
            return self._predicted_values(reader, t)
        return self._resample_values(reader, t, units)

    def _ablate_hook(self, reader: Reader, part: list[int], r: int):
        dim = reader.channel_dim
        masks = reader.mask(part).to(self.device)
        idx = self._on(reader.index[part[0]]) if r == 1 else None

        def pre(mod, args):
            t = args[0]
            if r == 1 and self.ablation.mode in ("zero", "mean", "soft", "refit"):
                # one unit: overwrite its channels in a copy (cheaper than a masked blend)
                if self.ablation.mode == "zero":
                    value = 0.0
                else:
                    vals = self._values(reader, t.unsqueeze(0), 1)[0]
                    value = vals.reshape(-1)[idx] if vals.numel() > 1 else vals.reshape(())
                return (overwrite_channels(t, reader, idx, value), *args[1:])
            tv = t.reshape(r, t.shape[0] // r, *t.shape[1:])
            view = _mask_view(tv.ndim, dim, r, reader.in_size)
            m = masks.to(t.dtype).view(view)
            new = tv * (1 - m) + self._values(reader, tv, r, part) * m
            new = new.reshape(t.shape)
            if t.ndim == 4 and t.is_contiguous(memory_format=torch.channels_last):
                new = new.contiguous(memory_format=torch.channels_last)
            return (new, *args[1:])
        return pre

    def _splice_hook(self, name: str, out_index: torch.Tensor, r: int):
        clean = self.recorder.outputs[name][0]
        out_index = self._on(out_index)

        def post(mod, args, out):
            ov = out.reshape(r, self.n, *out.shape[1:])
            new = clean.unsqueeze(0).expand_as(ov).clone()
            new[:, :, out_index] = ov[:, :, out_index]
            new = new.reshape(out.shape)
            if out.ndim == 4 and out.is_contiguous(memory_format=torch.channels_last):
                new = new.contiguous(memory_format=torch.channels_last)
            return new
        return post

    def _stubs(self, first_call: int) -> list[str]:
        """Maximal modules whose every call ends before clock ``first_call``."""
        done = {n for n, spans in self.recorder.spans.items()
                if all(end < first_call for _, end in spans)
                and all(isinstance(o, torch.Tensor) and o.shape[:1] == (self.n,)
                        for o in self.recorder.outputs[n])}
        return [n for n in done if n.rpartition(".")[0] not in done]

    @contextmanager
    def _prefix_stubs(self, readers: Sequence[str], r: int):
        if not self.cache_prefix:
            yield
            return
        first = min(self.recorder.spans[name][0][0] for name in readers)
        stubs = self._stubs(first)
        saved = {}
        try:
            for name in stubs:
                module = self.modules[name]
                key = (name, r)
                if key not in self._tiled:
                    self._tiled[key] = [_tile(o, r) for o in self.recorder.outputs[name]]
                outs = self._tiled[key]
                calls = iter(range(10**9))

                def forward(*args, _outs=outs, _calls=calls, **kwargs):
                    return _outs[next(_calls) % len(_outs)]
                saved[name] = module.__dict__.get("forward")
                module.forward = forward
            yield
        finally:
            for name, old in saved.items():
                module = self.modules[name]
                del module.forward
                if old is not None:
                    module.forward = old

    def _subtractable(self, names: list[str], r: int, splice) -> str | None:
        """The first intervened reader when its output can be corrected by subtracting the
        unit's contribution instead of recomputing it: one unit per forward, a Conv2d (groups=1)
        or Linear called once, reading clean inputs (nothing before it is intervened). A path
        intervention works too: the splice hook then keeps the corrected outputs of S only."""
        if r != 1 or not self.cache_prefix or self.ablation.mode in ("resample", "predicted", "refit"):
            return None
        first = min(names, key=lambda n: self.recorder.spans[n][0][0])
        module = self.modules[first]
        if len(self.recorder.spans[first]) != 1 or not isinstance(self.recorder.outputs[first][0], torch.Tensor):
            return None
        if isinstance(module, nn.Linear) or (isinstance(module, nn.Conv2d) and module.groups == 1
                                              and module.padding_mode == "zeros"):
            return first
        return None

    def _subtract_forward(self, reader: Reader, unit: int):
        """A forward for ``reader`` that returns its clean output plus the linear change the
        intervention on ``unit`` makes: W[:, idx] applied to (value - input) on the unit's inputs."""
        module = reader.module
        clean = self.recorder.outputs[reader.name][0]
        idx = self._on(reader.index[unit])

        def forward(x, *args, **kwargs):
            d = reader.axis(x.ndim)
            own = x.index_select(d, idx)
            if self.ablation.mode == "zero":
                delta = -own
            else:
                vals = self._values(reader, x.unsqueeze(0), 1)[0]
                view = [1] * x.ndim
                view[d] = -1
                v = vals.reshape(-1)[idx].view(view) if vals.numel() > 1 else vals.reshape(())
                delta = v - own
            if isinstance(module, nn.Conv2d):
                change = F.conv2d(delta, module.weight[:, idx], None, module.stride, module.padding,
                                  module.dilation)
            else:
                change = F.linear(delta, module.weight[:, idx])
            out = clean + change
            if out.ndim == 4 and clean.is_contiguous(memory_format=torch.channels_last):
                out = out.contiguous(memory_format=torch.channels_last)
            return out
        return forward

    def _many_subtractable(self, names: list[str], splice) -> str | None:
        """The reader when several units can be switched off in one forward by subtraction on
        an un-replicated prefix: one flat Linear reader (N, features) called once, zero, mean or
        soft values (a path intervention may splice that reader). Only the reader's output and
        what follows it are replicated, so the prefix is neither tiled nor recomputed."""
        if (len(names) != 1 or (splice and set(splice) != set(names)) or not self.cache_prefix
                or self.n < 2  # with one input a stale prefix output would broadcast silently
                or self.ablation.mode in ("resample", "predicted", "refit")
                or names[0] in self._untiled_failed):
            return None
        name = names[0]
        outs = self.recorder.outputs[name]
        if (isinstance(self.modules[name], nn.Linear) and len(outs) == 1
                and isinstance(outs[0], torch.Tensor) and outs[0].ndim == 2):
            return name
        return None

    def _subtract_many_forward(self, reader: Reader, part: list[int], out_index: torch.Tensor | None):
        """A forward for a flat Linear ``reader`` that returns (r * N, out): replica i is its
        clean output plus the change that switching off unit ``part[i]`` makes (on the outputs
        ``out_index`` only, for a path intervention)."""
        module = reader.module
        clean = self.recorder.outputs[reader.name][0]
        dev = self.device
        cols = torch.cat([reader.index[u] for u in part]).to(dev)
        owner = torch.tensor([i for i, u in enumerate(part) for _ in range(len(reader.index[u]))],
                             dtype=torch.long, device=dev)
        block = torch.zeros(len(part), len(cols), dtype=clean.dtype, device=dev)
        block[owner, torch.arange(len(cols), device=dev)] = 1.0
        weight = module.weight[:, cols]
        if out_index is not None:
            keep = torch.zeros(len(weight), dtype=torch.bool, device=dev)
            keep[self._on(out_index)] = True
            weight = weight * keep[:, None].to(weight.dtype)

        def forward(x, *args, **kwargs):
            own = x[:, cols]
            if self.ablation.mode == "zero":
                delta = -own
            else:
                vals = self._values(reader, x.unsqueeze(0), 1).reshape(-1)
                delta = vals[cols] - own
            change = torch.einsum("nc,rc,oc->rno", delta, block, weight.to(delta.dtype))
            return (clean.unsqueeze(0) + change).reshape(len(part) * len(clean), -1)
        return forward

    def _forward_many(self, name: str, layer: UnitLayer, part: list[int],
                      splice: dict[str, torch.Tensor] | None) -> torch.Tensor | None:
        """Logits (r * N, classes) by :meth:`_subtract_many_forward`, or None where the model
        reads the un-replicated prefix after the reader too (a shape clash), in which case the
        reader falls back to the replicated path for good."""
        module = self.modules[name]
        old = module.__dict__.get("forward")
        module.forward = self._subtract_many_forward(layer.reader(name), part, (splice or {}).get(name))
        try:
            with self._prefix_stubs([name], 1):
                out = self.model(self.x)
        except RuntimeError as exc:
            if not _is_shape_clash(exc):
                raise   # the model's own error, not the clash this fallback is for
            out = None
        finally:
            _restore_forward(module, old)
        if not isinstance(out, torch.Tensor) or out.shape != (len(part) * self.n, *self.clean.shape[1:]):
            self._untiled_failed.add(name)
            return None
        return out.float()

    def _forward(self, layer: UnitLayer, names: list[str], part: list[int],
                 splice: dict[str, torch.Tensor] | None) -> torch.Tensor:
        r = len(part)
        many = self._many_subtractable(names, splice) if r > 1 else None
        if many is not None:
            out = self._forward_many(many, layer, part, splice)
            if out is not None:
                return out.reshape(r, self.n, -1)
        subtract = self._subtractable(names, r, splice)
        refit = set(names) & set(self.refits)
        with ExitStack() as stack:
            if subtract is not None:
                module = self.modules[subtract]
                old = module.__dict__.get("forward")
                module.forward = self._subtract_forward(layer.reader(subtract), part[0])
                stack.callback(_restore_forward, module, old)
            for name in refit:
                module = self.modules[name]
                old = module.__dict__.get("forward")
                module.forward = self._refit_forward(layer.reader(name), part[0])
                stack.callback(_restore_forward, module, old)
            for name in names:
                if name == subtract or name in refit:
                    continue
                rd = layer.reader(name)
                h = rd.module.register_forward_pre_hook(self._ablate_hook(rd, part, r))
                stack.callback(h.remove)
            for name, idx in (splice or {}).items():
                h = self.modules[name].register_forward_hook(self._splice_hook(name, idx, r))
                stack.callback(h.remove)
            stack.enter_context(self._prefix_stubs(names, r))
            key = ("<input>", r)
            if key not in self._tiled:
                self._tiled[key] = _tile(self.x, r)
            out = self.model(self._tiled[key]).float()
        return out.reshape(r, self.n, -1)

    _REPLICAS = 8
    _MAX_REPLICATED_SAMPLES = 1024
    _MAX_SUBTRACT_ROWS = 8192
    _MAX_SUBTRACT_ELEMENTS = 1 << 22

    def _chunk(self, names: list[str], remaining: int, splice=None) -> int:
        """Units per forward: fixed, or with ``"auto"``: as many as fit 8192 rows for one flat
        Linear reader (only its output is replicated); 8 when every intervened reader is a
        Linear on flat (N, features) inputs and the replicated batch stays small; else 1.

        A fixed rule rather than a timing so that the same seed always gives the same numbers
        to the last bit (batched and single forwards round differently). Measured on the zoo
        (2 CPU threads, 100 images): replicas won only for flat linear readers (LeNet-5 fc1
        0.005 s vs 0.009 s; MobileNetV2's last layer 0.009 s vs 0.034 s) and lost for every
        convolutional or token-wise suffix (up to 5x slower)."""
        if self.ablation.mode == "refit":
            return 1   # one set of re-solved weights per forward
        if self.units_per_forward != "auto":
            return min(self.units_per_forward, remaining)
        many = self._many_subtractable(names, splice)
        if many is not None:
            width = max(self.modules[many].out_features, 1)
            rows = min(self._MAX_SUBTRACT_ROWS, max(self.n, self._MAX_SUBTRACT_ELEMENTS // width))
            return min(max(1, rows // self.n), remaining)
        flat = all(isinstance(self.modules[n], nn.Linear)
                   and isinstance(self.recorder.outputs[n][0], torch.Tensor)
                   and self.recorder.outputs[n][0].ndim == 2 for n in names)
        if flat and self.n * self._REPLICAS <= self._MAX_REPLICATED_SAMPLES:
            return min(self._REPLICAS, remaining)
        return 1

    # ---- public ----------------------------------------------------------------------------
    def ablate(self, layer: UnitLayer, units: Sequence[int], *,
               readers: Sequence[str] | None = None,
               splice: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """Logits (len(units), N, classes) with each unit of ``units`` switched off in turn.

        ``readers`` restricts where the unit is switched off (default: every reader, i.e. the
        unit is removed). ``splice`` maps a reader to the output channels S that take the
        intervened values (a path intervention u -> S); its other outputs stay clean.
        """
        units = list(units)
        bad = [u for u in units if not 0 <= u < layer.size]
        if bad:
            raise ValueError(f"units {bad[:5]} are not in layer {layer.name!r}, which has {layer.size} "
                             f"units (0..{layer.size - 1}); pass indices in that range")
        names = list(readers) if readers is not None else [rd.name for rd in layer.readers]
        if self.ablation.mode == "refit" and (splice or readers is not None):
            raise CausalnetInputError("refit ablation removes a unit from every reader (a node "
                                      "intervention): call ablate without readers or splice")
        if splice:
            names = [n for n in names if n in splice] or list(splice)
        outs = []
        with self._eval(), torch.inference_mode(), split_heads(self.model):
            start = 0
            while start < len(units):
                chunk = self._chunk(names, len(units) - start, splice)
                outs.append(self._forward(layer, names, units[start:start + chunk], splice).cpu())
                start += chunk
        return torch.cat(outs)


def _columns(module: nn.Module, t: torch.Tensor) -> torch.Tensor | None:
    """The rows a least-squares re-solve of ``module`` regresses on: (rows, in_features) of a
    Linear's input, (N * positions, C * kh * kw) im2col patches of a Conv2d (groups=1, zero
    padding); None for any other module."""
    if isinstance(module, nn.Linear):
        return t.detach().reshape(-1, t.shape[-1])
    if (isinstance(module, nn.Conv2d) and module.groups == 1 and module.padding_mode == "zeros"
            and not isinstance(module.padding, str)):
        cols = F.unfold(t.detach().float(), module.kernel_size, module.dilation, module.padding,
                        module.stride)
        return cols.transpose(1, 2).reshape(-1, cols.shape[1])
    return None


def ablate_naive(model: nn.Module, layer: UnitLayer, unit: int, x: torch.Tensor, *,
                 value: float | torch.Tensor = 0.0) -> torch.Tensor:
    """Reference implementation: one unit, one full forward, input channels set to ``value``.

    Used by tests to check the engine; slow on purpose.
    """
    handles = []

    def make(reader: Reader):
        def pre(mod, args):
            t = args[0].clone()
            idx = reader.index[unit]
            v = value[idx] if isinstance(value, torch.Tensor) and value.ndim else value
            if reader.channel_dim == 1:
                t[:, idx] = v.view(-1, *([1] * (t.ndim - 2))) if isinstance(v, torch.Tensor) else v
            else:
                t[..., idx] = v
            return (t, *args[1:])
        return pre

    try:
        for rd in layer.readers:
            handles.append(rd.module.register_forward_pre_hook(make(rd)))
        with torch.inference_mode(), split_heads(model):
            return model(x).float()
    finally:
        for h in handles:
            h.remove()
