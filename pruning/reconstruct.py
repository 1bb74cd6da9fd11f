"""Training-free repair by least squares: re-solve each consumer of removed units so that it
reproduces, from the units that are left, the output it had in the original network.

After units are removed, a reader (the Conv2d or Linear that consumed them) has fewer inputs.
Folding the removed units' means into its bias keeps its *average* output; solving for its
weights on calibration images keeps its output image by image, as far as the remaining inputs
can express it: min ||X_kept W - Y_original||^2 + ridge, one closed-form solve per reader, in
the order the network runs them (each sees the already-repaired layers before it). This is the
"reconstruct the next layer" step of classic channel pruning (He et al., 2017; ThiNet), without
any gradient step. It changes weight values only, never shapes, so a saved plan replays it
through the saved state dict; biases it has to create are listed for the plan to recreate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from causalnet.attention import split_heads
from causalnet.interventions import LSQ_RIDGE
from causalnet.units import UnitMap


def _rows_conv(module: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    cols = F.unfold(x.float(), module.kernel_size, module.dilation, module.padding, module.stride)
    return cols.transpose(1, 2).reshape(-1, cols.shape[1])            # (N*L, C*k*k)


def _capture(model: nn.Module, name: str, x: torch.Tensor, *, inputs: bool) -> torch.Tensor:
    module = dict(model.named_modules())[name]
    store: list[torch.Tensor] = []
    if inputs:
        handle = module.register_forward_pre_hook(lambda m, a: store.append(a[0].detach()))
    else:
        handle = module.register_forward_hook(lambda m, a, out: store.append(out.detach()))
    try:
        with torch.inference_mode(), split_heads(model):
            model.eval()(x)
    finally:
        handle.remove()
    return store[0]


def _call_order(model: nn.Module, x: torch.Tensor) -> list[str]:
    order: list[str] = []
    handles = [m.register_forward_pre_hook(lambda mod, a, n=n: order.append(n))
               for n, m in model.named_modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    try:
        with torch.inference_mode(), split_heads(model):
            model.eval()(x[:1])
    finally:
        for h in handles:
            h.remove()
    return list(dict.fromkeys(order))


def _ridge_solve(rows: torch.Tensor, target: torch.Tensor, ridge: float, max_rows: int,
                 generator: torch.Generator) -> torch.Tensor:
    """(in + 1, out): weights and intercept (last row) of the ridge regression of ``target`` on
    ``rows`` (at most ``max_rows`` of them, drawn with ``generator``); ``ridge`` is relative to
    the mean input energy."""
    if len(rows) > max_rows:
        pick = torch.randperm(len(rows), generator=generator)[:max_rows]
        rows, target = rows[pick], target[pick]
    design = torch.cat([rows, torch.ones(len(rows), 1, dtype=rows.dtype, device=rows.device)], 1).double()
    gram = design.T @ design
    lam = ridge * float(gram.diagonal()[:-1].mean())
    gram[:-1, :-1] += lam * torch.eye(gram.shape[0] - 1, dtype=gram.dtype, device=gram.device)
    return torch.linalg.solve(gram, design.T @ target.double())


def kept_outputs(model: nn.Module, units: UnitMap, removal: Mapping[str, Sequence[int]]
                 ) -> dict[str, torch.Tensor]:
    """For every reader of a layer in ``removal`` that a dense solve can repair (Linear, Conv2d
    with groups=1): the indices of its output channels that survive the removal (a reader can
    itself produce units that are removed). ``units`` describes ``model`` before removal."""
    modules = dict(model.named_modules())
    out: dict[str, torch.Tensor] = {}
    for name in removal:
        for reader in units.layer(name).readers:
            module = modules[reader.name]
            if not isinstance(module, nn.Linear | nn.Conv2d) or getattr(module, "groups", 1) != 1:
                continue
            gone: set[int] = set()
            for layer in units:
                if removal.get(layer.name) and reader.name in layer.producer_index:
                    index = layer.producer_index[reader.name]
                    gone |= {int(index[u]) for u in removal[layer.name]}
            width = module.out_features if isinstance(module, nn.Linear) else module.out_channels
            out[reader.name] = torch.tensor([i for i in range(width) if i not in gone], dtype=torch.long)
    return out


@torch.no_grad()
def reconstruct_readers(pruned: nn.Module, original: nn.Module, readers: Mapping[str, torch.Tensor],
                        x_calib: torch.Tensor, *, ridge: float = LSQ_RIDGE, max_rows: int = 50_000,
                        seed: int = 0) -> dict[str, list[str]]:
    """Re-solve the weights and bias of ``readers`` (module name shared by ``pruned`` and
    ``original`` -> the original output channels it keeps, see :func:`kept_outputs`) in place
    in ``pruned``, by ridge regression of ``original``'s outputs on ``pruned``'s inputs over
    ``x_calib``. ``ridge`` is relative to the mean input energy. Returns the readers solved and
    the biases created."""
    modules = dict(pruned.named_modules())
    wanted = set(readers)
    done: dict[str, list[str]] = {"reconstructed": [], "created_biases": []}
    generator = torch.Generator().manual_seed(seed)
    for name in _call_order(pruned, x_calib):
        module = modules.get(name)
        if name not in wanted or module is None:
            continue
        keep = readers[name]
        x_in = _capture(pruned, name, x_calib, inputs=True)
        y_out = _capture(original, name, x_calib, inputs=False).float().index_select(
            1 if isinstance(module, nn.Conv2d) else -1, keep)
        if len(keep) != (module.out_channels if isinstance(module, nn.Conv2d) else module.out_features):
            raise RuntimeError(f"{name}: {len(keep)} kept outputs expected, the pruned module has "
                               f"{module.weight.shape[0]}")
        if isinstance(module, nn.Conv2d):
            rows = _rows_conv(module, x_in)
            target = y_out.flatten(2).transpose(1, 2).reshape(-1, y_out.shape[1])
        else:
            rows = x_in.float().reshape(-1, x_in.shape[-1])
            target = y_out.reshape(-1, y_out.shape[-1])
        solution = _ridge_solve(rows, target, ridge, max_rows, generator)   # (in + 1, out)
        weight, bias = solution[:-1].T, solution[-1]
        module.weight.copy_(weight.reshape(module.weight.shape).to(module.weight.dtype))
        if module.bias is None:
            module.bias = nn.Parameter(bias.to(module.weight.dtype))
            done["created_biases"].append(name)
        else:
            module.bias.copy_(bias.to(module.bias.dtype))
        done["reconstructed"].append(name)
    return done


@torch.no_grad()
def reconstruct_masked(work: nn.Module, original: nn.Module, masked: Mapping[str, torch.Tensor],
                       x_calib: torch.Tensor, *, ridge: float = LSQ_RIDGE, max_rows: int = 50_000,
                       seed: int = 0) -> list[str]:
    """:func:`reconstruct_readers` on a full-size model whose removed units are masked (not yet
    removed): each reader in ``masked`` (name -> its input channels that are masked out) is
    re-solved in place on its other inputs to give ``original``'s outputs over ``x_calib``; the
    masked channels' weights are set to zero, so whatever value the mask feeds them no longer
    matters and ``work`` computes what physical removal + least squares will. Readers need a
    bias (the caller adds zero ones); grouped convolutions and other modules are left as they
    are. Returns the readers solved."""
    modules = dict(work.named_modules())
    generator = torch.Generator().manual_seed(seed)
    solved = []
    for name in _call_order(work, x_calib):
        module = modules.get(name)
        if name not in masked or module is None or module.bias is None:
            continue
        if isinstance(module, nn.Conv2d) and module.groups != 1:
            continue
        width = module.in_channels if isinstance(module, nn.Conv2d) else module.in_features
        gone = torch.zeros(width, dtype=torch.bool)
        gone[masked[name]] = True
        kept = torch.nonzero(~gone)[:, 0]
        x_in = _capture(work, name, x_calib, inputs=True)
        y_out = _capture(original, name, x_calib, inputs=False).float()
        if isinstance(module, nn.Conv2d):
            per = module.kernel_size[0] * module.kernel_size[1]
            rows = _rows_conv(module, x_in)
            cols = (kept[:, None] * per + torch.arange(per)[None, :]).reshape(-1)
            rows = rows[:, cols]
            target = y_out.flatten(2).transpose(1, 2).reshape(-1, y_out.shape[1])
        else:
            rows = x_in.float().reshape(-1, x_in.shape[-1])[:, kept]
            target = y_out.reshape(-1, y_out.shape[-1])
        solution = _ridge_solve(rows, target, ridge, max_rows, generator)   # (kept + 1, out)
        weight = torch.zeros_like(module.weight, dtype=torch.float64)
        if isinstance(module, nn.Conv2d):
            weight[:, kept] = solution[:-1].T.reshape(len(solution.T), len(kept), *module.kernel_size)
        else:
            weight[:, kept] = solution[:-1].T
        module.weight.copy_(weight.to(module.weight.dtype))
        module.bias.copy_(solution[-1].to(module.bias.dtype))
        solved.append(name)
    return solved
