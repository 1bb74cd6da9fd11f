"""Training-free repair of a pruned network (METHOD.md section 5.6): no gradient step anywhere.

- :func:`fold_means`: before units are removed, add their mean contribution to each reader's
  output bias, so that removal *is* mean ablation (the operation C-SWAP scores with) rather
  than zero ablation. Readers without a bias shift the running mean of the BatchNorm that follows
  them instead; a reader with neither gets a bias.
- :func:`reestimate_batchnorm`: recompute BatchNorm running statistics on calibration images,
  since removing channels shifts every downstream activation distribution.
- :func:`finalize`: the removal itself with the repair asked for (``bias``, ``bn``, ``lsq``: the
  least-squares reconstruction of :mod:`pruning.reconstruct`): the one place a plan becomes a
  pruned, repaired model, for C-SWAP, every baseline and the shortcut removal (``debias``).

The means of mean ablation are :func:`causalnet.masking.reader_means`.
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Mapping, Sequence

import torch
from torch import nn

from causalnet.errors import CausalnetInputError
from causalnet.evaluate import runs_channels_last
from causalnet.masking import UnitMask
from causalnet.units import UnitMap, discover_units

from .reconstruct import kept_outputs, reconstruct_readers
from .removal import Removal, normalize_removal, prune_units

_BN = nn.modules.batchnorm._BatchNorm


def _following_batchnorm(model: nn.Module, units: UnitMap, reader: str) -> str | None:
    """The BatchNorm that normalises ``reader``'s output, if any: the next Conv/Linear/BatchNorm
    after ``reader`` in module order, when it is a BatchNorm of matching width that Torch-Pruning
    couples to ``reader``'s output channels (a member of the unit layer ``reader`` writes)."""
    names = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d | nn.Linear | _BN)]
    if reader not in names:
        return None
    pos = names.index(reader)
    if pos + 1 >= len(names):
        return None
    modules = dict(model.named_modules())
    candidate = names[pos + 1]
    bn, module = modules[candidate], modules[reader]
    width = module.out_channels if isinstance(module, nn.Conv2d) else module.out_features
    if not isinstance(bn, _BN) or bn.num_features != width or bn.running_mean is None:
        return None
    coupled = any(reader in layer.producers and candidate in layer.members for layer in units)
    return candidate if coupled else None


def _contribution(module: nn.Module, name: str, idx: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
    """What input channels ``idx`` held at ``mean`` add to ``module``'s output, per output
    channel: W[:, idx] @ mean[idx] (Linear) or the kernel-summed equivalent (Conv2d)."""
    w = module.weight.detach().float()
    m = mean.to(w.device, torch.float32)[idx]
    if isinstance(module, nn.Linear):
        return w[:, idx] @ m
    if isinstance(module, nn.Conv2d):
        if module.groups != 1:
            raise CausalnetInputError(f"cannot fold means into {name!r}: grouped convolution "
                                      f"(groups={module.groups})")
        return w[:, idx].sum(dim=tuple(range(2, w.ndim))) @ m
    raise CausalnetInputError(f"cannot fold means into {name!r} ({type(module).__name__}); "
                              "readers are Conv2d or Linear")


@torch.no_grad()
def fold_means(model: nn.Module, units: UnitMap, removal: Removal,
               means: Mapping[str, torch.Tensor], *, skip: Collection[str] = ()) -> dict[str, list[str]]:
    """Fold the mean contribution of the units in ``removal`` into their readers, in place.

    Call it BEFORE :func:`pruning.removal.prune_units` with the same ``units`` and ``removal``;
    ``means[reader]`` is the per-input-channel mean of that reader's input (see
    :func:`causalnet.masking.reader_means`). For a reader with a bias, bias += W[:, idx] @ mean[idx] (a Conv2d sums
    its kernel: exact away from zero-padded borders, where part of the kernel falls outside the
    image and the true contribution is smaller); a reader without a bias followed by a BatchNorm
    shifts that BatchNorm's running mean down by the same amount (exact in eval mode); otherwise
    a bias holding the contribution is created. After removal the model computes what the
    mean-ablated model computed. Readers in ``skip`` are left alone (another repair re-solves
    them). Returns which modules changed: ``biases``, ``batchnorms``,
    ``created_biases`` (a saved plan must recreate the last).
    """
    removal = normalize_removal(model, units, removal)
    modules = dict(model.named_modules())
    deltas: dict[str, torch.Tensor] = {}
    for name, removed in removal.items():
        for reader in units.layer(name).readers:
            if reader.name in skip:
                continue
            if reader.name not in means:
                raise CausalnetInputError(f"no mean for reader {reader.name!r} of {name!r}; "
                                          "compute means with causalnet.masking.reader_means")
            module = modules[reader.name]
            width = module.in_features if isinstance(module, nn.Linear) else module.in_channels
            if width != reader.in_size:
                raise CausalnetInputError(f"reader {reader.name!r} has {width} inputs but the unit "
                                          f"map says {reader.in_size}: fold means before pruning")
            idx = torch.cat([reader.index[u] for u in removed])
            delta = _contribution(module, reader.name, idx, means[reader.name])
            deltas[reader.name] = deltas.get(reader.name, 0) + delta
    changed: dict[str, list[str]] = {"biases": [], "batchnorms": [], "created_biases": []}
    for name, delta in deltas.items():
        module = modules[name]
        if module.bias is not None:
            module.bias.add_(delta.to(module.bias.dtype))
            changed["biases"].append(name)
            continue
        bn_name = _following_batchnorm(model, units, name)
        if bn_name is not None:
            bn = modules[bn_name]
            bn.running_mean.sub_(delta.to(bn.running_mean.dtype))
            changed["batchnorms"].append(bn_name)
            continue
        module.bias = nn.Parameter(delta.to(module.weight.dtype).clone())
        changed["created_biases"].append(name)
    return changed


def _batch_bounds(n: int, batch_size: int) -> list[tuple[int, int]]:
    """Batches of ``batch_size``; a last batch of one image joins the previous one (train-mode
    BatchNorm cannot normalise a single value per channel)."""
    bounds = [(s, min(s + batch_size, n)) for s in range(0, n, max(1, batch_size))]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] == 1:
        bounds[-2:] = [(bounds[-2][0], n)]
    return bounds


@torch.no_grad()
def reestimate_batchnorm(model: nn.Module, x_calib: torch.Tensor, batch_size: int = 256) -> nn.Module:
    """Recompute every BatchNorm's running mean and variance on ``x_calib``, in place.

    Statistics are reset and accumulated as a cumulative average over the batches
    (``momentum=None``); only the BatchNorm modules run in train mode, so dropout and the like
    stay off and the statistics are those the eval-mode network will see. Each module's momentum
    and train/eval mode are restored. A model without BatchNorm is returned unchanged.
    """
    bns = [m for m in model.modules() if isinstance(m, _BN) and m.track_running_stats]
    if not bns:
        return model
    if len(x_calib) == 0:
        raise CausalnetInputError("BatchNorm re-estimation needs at least one calibration image")
    modes = {m: m.training for m in model.modules()}
    momenta = {m: m.momentum for m in bns}
    channels_last = runs_channels_last(model, x_calib)
    try:
        model.eval()
        for m in bns:
            m.reset_running_stats()
            m.momentum = None
            m.train()
        for start, stop in _batch_bounds(len(x_calib), batch_size):
            x = x_calib[start:stop]
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            model(x)
    finally:
        for m, momentum in momenta.items():
            m.momentum = momentum
        for m, mode in modes.items():
            m.training = mode
    return model


@torch.no_grad()
def copy_batchnorm_statistics(model: nn.Module, source: nn.Module) -> nn.Module:
    """Set every BatchNorm's running mean and variance of ``model`` to those of the same-named
    BatchNorm of ``source`` (a copy of ``model`` before its statistics were re-estimated; the
    channels must match), in place: what a masked copy's BatchNorms hold again once its
    removed units' means are folded back, as physical removal does."""
    originals = dict(source.named_modules())
    for name, module in model.named_modules():
        if isinstance(module, _BN) and module.running_mean is not None:
            other = originals.get(name)
            if not isinstance(other, _BN) or other.running_mean is None:
                raise CausalnetInputError(f"BatchNorm {name!r} has no counterpart with statistics in the "
                                          "source model: copy statistics only between copies of one model")
            module.running_mean.copy_(other.running_mean)
            module.running_var.copy_(other.running_var)
    return model


REPAIRS = ("bias", "bn", "lsq")
# The default: least-squares reconstruction of every consumer of removed units (mean folding
# where a dense solve does not apply). On the zoo ResNet-20 at 50% of parameters removed it kept
# 99.40% (C-SWAP) where bias folding + BatchNorm re-estimation kept 98.59% (docs/pruning_status.md).
DEFAULT_REPAIR = ("lsq",)


def check_repair(repair: Sequence[str]) -> tuple[str, ...]:
    bad = [r for r in repair if r not in REPAIRS]
    if bad:
        raise CausalnetInputError(f"unknown repair {bad}; use any of {', '.join(REPAIRS)} (or none)")
    return tuple(repair)


def finalize(model: nn.Module, removal: dict[str, list[int]], x_cal: torch.Tensor,
             repair: Sequence[str], example: torch.Tensor, *,
             units: UnitMap | None = None) -> tuple[nn.Module, dict]:
    """A pruned copy of ``model`` without ``removal``'s units, repaired as asked: the removed
    units' means (measured on the network without them, BatchNorm re-estimated when "bn") folded
    into their readers' biases ("bias"), the readers' weights re-solved by least squares to give
    their original outputs ("lsq", which subsumes "bias"), BatchNorm statistics re-estimated
    ("bn", last).

    Args:
        model: the source model (left unchanged).
        removal: layer name -> unit indices to remove.
        x_cal: calibration images the means, BatchNorm statistics and least squares use.
        repair: any of :data:`REPAIRS` (empty: plain removal).
        example: a batch of one input (traces the dependency graph).
        units: ``model``'s unit map when the caller already has it (else discovered).

    Returns:
        ``(pruned, changed)``: the pruned, repaired copy (eval mode) and what the repair changed
        (for :func:`pruning.io.make_plan`'s ``repair``).
    """
    work = copy.deepcopy(model).eval()
    units = discover_units(work, example) if units is None else units.bound_to(work)
    changed: dict = {}
    solved = kept_outputs(work, units, removal) if removal and "lsq" in repair else {}
    if removal and ("bias" in repair or "lsq" in repair):
        mask = UnitMask(work, units)
        try:
            mask.set_off({k: set(v) for k, v in removal.items()})
            mask.refresh(x_cal)
            if "bn" in repair:
                reestimate_batchnorm(work, x_cal)
                mask.refresh(x_cal)
            means = mask.means
        finally:
            mask.close()
        changed = fold_means(work, units, removal, means, skip=set(solved))
    if removal:
        prune_units(work, units, removal, example)
        if solved:
            done = reconstruct_readers(work, model, solved, x_cal)
            changed["reconstructed"] = done["reconstructed"]
            changed["created_biases"] = changed.get("created_biases", []) + done["created_biases"]
    if "bn" in repair:
        reestimate_batchnorm(work, x_cal)
        changed["batchnorm_reestimated"] = True
    return work.eval(), changed
