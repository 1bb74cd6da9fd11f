"""Where the work runs: the ``--device`` option, checked, and the device a model lives on.

The engines follow the model: a model on a GPU gets its batches, masks and index tensors moved
there, and hands its results back on the CPU (logits, first-order estimates), so statistics,
checkpoints and graph files never depend on the device. ``resolve_device`` turns the user's
``--device`` into a :class:`torch.device` or says what to do instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import CausalnetInputError

if TYPE_CHECKING:   # torch is imported where it is used: parsing the command line stays light
    import torch
    from torch import nn

DEVICE_HELP = ("cpu (default), cuda, or cuda:N; the model and every intervention run there, "
               "results come back to the CPU")


def resolve_device(spec: str | torch.device | None) -> torch.device:
    """``"cpu"``, ``"cuda"`` or ``"cuda:N"`` -> a device that exists on this machine.

    Raises:
        CausalnetInputError: an unknown device, CUDA asked for where torch sees none, or a GPU
            index past the last one; the message says what to pass instead.
    """
    import torch

    if spec is None:
        return torch.device("cpu")
    try:
        device = torch.device(spec)
    except (RuntimeError, TypeError):
        raise CausalnetInputError(f"--device must be cpu, cuda or cuda:N, got {spec!r}") from None
    if device.type == "cpu":
        return device
    if device.type != "cuda":
        raise CausalnetInputError(f"--device {spec}: only cpu and cuda are supported; use --device cpu")
    if not torch.cuda.is_available():
        raise CausalnetInputError(
            f"--device {spec}: torch sees no CUDA device here (torch.cuda.is_available() is False, "
            f"torch {torch.__version__}); run with --device cpu, or on a machine with an NVIDIA GPU "
            "and a CUDA build of torch")
    count = torch.cuda.device_count()
    if device.index is not None and device.index >= count:
        raise CausalnetInputError(f"--device {spec}: this machine has {count} CUDA device(s) "
                                  f"(cuda:0..cuda:{count - 1}); pick one of those")
    return device


def model_device(model: nn.Module) -> torch.device:
    """The device of ``model``'s first parameter (or buffer); the CPU for a model with neither."""
    import torch

    for t in model.parameters():
        return t.device
    for t in model.buffers():
        return t.device
    return torch.device("cpu")


__all__ = ["DEVICE_HELP", "model_device", "resolve_device"]
