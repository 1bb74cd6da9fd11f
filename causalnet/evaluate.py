"""The one place that runs a model over data: logits, accuracy, MACs and parameter counts."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from .errors import CausalnetInputError
from .progress import progress

_FORMAT_FLAG = "_causalnet_channels_last"


def prefer_channels_last(model: nn.Module, example: torch.Tensor | None = None) -> nn.Module:
    """Put a convolutional model in channels_last memory format (2-3x faster CNN forwards on
    CPU, measured here); models without 2-D convolutions are returned unchanged.

    With ``example`` (a batch), the speed-up never decides whether the model runs: when the
    model fails in channels_last (e.g. its forward calls ``.view`` on a feature map) or gives
    other outputs than in its own format, it is put back in its own format, and
    :func:`wants_channels_last` says so to every later forward."""
    if not any(isinstance(m, nn.Conv2d) for m in model.modules()):
        return model
    if example is None or example.ndim != 4:
        model.to(memory_format=torch.channels_last)
        return model
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():   # not inference_mode: the weights converted below stay normal tensors
            own = model(example.contiguous())
            model.to(memory_format=torch.channels_last)
            try:
                fast = model(example.contiguous(memory_format=torch.channels_last))
                same = (isinstance(fast, torch.Tensor) and fast.shape == own.shape and bool(
                    (fast.float() - own.float()).abs().max() <= 1e-3 * (1 + own.float().abs().max())))
            except RuntimeError:
                same = False
    finally:
        model.train(was_training)
    if not same:
        model.to(memory_format=torch.contiguous_format)
    setattr(model, _FORMAT_FLAG, same)
    return model


def wants_channels_last(model: nn.Module) -> bool:
    """Whether inputs should be fed to ``model`` in channels_last: what
    :func:`prefer_channels_last` found, else whether it has 2-D convolutions."""
    flag = model.__dict__.get(_FORMAT_FLAG)
    if flag is not None:
        return bool(flag)
    return any(isinstance(m, nn.Conv2d) for m in model.modules())


def runs_channels_last(model: nn.Module, example: torch.Tensor) -> bool:
    """Whether ``model`` (as it is: weights and mode unchanged) runs on ``example`` fed in
    channels_last (a forward that calls ``.view`` on a feature map does not)."""
    if not wants_channels_last(model) or example.ndim != 4:
        return False
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(example[:1].contiguous(memory_format=torch.channels_last))
        return True
    except RuntimeError:
        return False
    finally:
        model.train(was_training)
def true_class_logp(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The log-probability of the true class: log-softmax over the last axis, gathered at ``y``.

    Args:
        logits: ``(N, C)`` logits, or ``(R, N, C)`` for ``R`` interventions on the same ``N``
            inputs (any number of leading axes works).
        y: ``(N,)`` true class indices.

    Returns:
        ``logits.shape[:-1]``: ``log p(y_n | x_n)`` per input (and per intervention), in float32
        or wider.
    """
    lp = torch.log_softmax(logits.float(), -1)
    y = y.to(lp.device)
    index = y.view(*([1] * (lp.ndim - 2)), -1, 1).expand(*lp.shape[:-1], 1)
    return lp.gather(-1, index)[..., 0]


def class_margin(logits: torch.Tensor, c: int) -> torch.Tensor:
    """Logit of class ``c`` minus the largest other logit, per input (differentiable)."""
    others = logits.clone()
    others[:, c] = float("-inf")
    return logits[:, c] - others.max(1).values


def _batches(data, batch_size: int):
    if isinstance(data, tuple) and len(data) == 2 and isinstance(data[0], torch.Tensor):
        x, y = data
        for i in range(0, len(x), batch_size):
            yield x[i:i + batch_size], y[i:i + batch_size]
        return
    images = getattr(data, "images", None)
    if isinstance(images, torch.Tensor):
        yield from _batches((images, data.targets), batch_size)
        return
    yield from DataLoader(data, batch_size=batch_size, shuffle=False)


def _n_samples(data) -> int:
    return len(data[0]) if isinstance(data, tuple) else len(data)


def predict_logits(model: nn.Module, data: Dataset | tuple[torch.Tensor, torch.Tensor], *,
                   batch_size: int = 500, show_progress: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits of ``model`` on every sample of ``data`` (a dataset or an ``(images, labels)``
    pair), with the labels, in inference mode. The model's train/eval mode is restored.
    Each batch runs on the model's device; the logits come back on the CPU."""
    from .devices import model_device

    device = model_device(model)
    was_training = model.training
    model.eval()
    channels_last = wants_channels_last(model)
    outs, labels = [], []
    n_batches = -(-_n_samples(data) // batch_size)
    try:
        with torch.inference_mode():
            for x, y in progress(_batches(data, batch_size), show=show_progress, total=n_batches,
                                 desc="evaluating", unit="batch"):
                x = x.to(device)
                try:
                    if channels_last and x.ndim == 4:
                        try:
                            out = model(x.contiguous(memory_format=torch.channels_last))
                        except RuntimeError:   # a memory format the model does not support
                            channels_last = False
                    if not (channels_last and x.ndim == 4):
                        out = model(x)
                    outs.append(out.cpu())
                except RuntimeError as exc:
                    if "shape" in str(exc) or "size" in str(exc) or "channels" in str(exc):
                        raise CausalnetInputError(
                            f"the model cannot run on inputs of shape {tuple(x.shape[1:])}: {exc}. "
                            "Check that the data spec matches the model (channels, image size)."
                        ) from exc
                    raise
                labels.append(torch.as_tensor(y).cpu())
    finally:
        model.train(was_training)
    return torch.cat(outs), torch.cat(labels)


def accuracy(model: nn.Module, data: Dataset | tuple[torch.Tensor, torch.Tensor], *,
             batch_size: int = 500, show_progress: bool = False) -> float:
    """Top-1 accuracy (a fraction in [0, 1]) of ``model`` on ``data``."""
    logits, labels = predict_logits(model, data, batch_size=batch_size, show_progress=show_progress)
    if logits.shape[1] <= int(labels.max()):
        raise CausalnetInputError(
            f"the model outputs {logits.shape[1]} classes but the data has label {int(labels.max())}; "
            "use a model trained on this data")
    return float((logits.argmax(1) == labels).float().mean())


def count_macs_params(model: nn.Module, input_shape: tuple[int, ...]) -> tuple[int, int]:
    """Multiply-accumulates of one forward on one input of ``input_shape`` and the parameter
    count, from Torch-Pruning's counter (the same counter the pruner reports with)."""
    import torch_pruning as tp

    was_training = model.training
    model.eval()
    try:
        from .devices import model_device

        example = torch.zeros(1, *input_shape, device=model_device(model))
        macs, params = tp.utils.count_ops_and_params(model, example)
    finally:
        model.train(was_training)
    return int(macs), int(params)
