"""A model fingerprint: a hash of its state dict, so a graph or a pruning plan can tell whether it
is being applied to the model it was made from."""

from __future__ import annotations

import hashlib

import torch
from torch import nn


def state_dict_fingerprint(state: dict[str, torch.Tensor]) -> str:
    """``sha256:<hex>`` over every entry's name, dtype, shape and values (in name order).

    Independent of memory format and device; any changed weight, buffer or shape changes it.
    """
    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name]
        if not isinstance(t, torch.Tensor):
            continue
        t = t.detach().to("cpu").contiguous()
        h.update(name.encode())
        h.update(str(t.dtype).encode())
        h.update(str(tuple(t.shape)).encode())
        if t.dtype == torch.bfloat16:
            t = t.float()
        h.update(t.numpy().tobytes())
    return "sha256:" + h.hexdigest()


def model_fingerprint(model: nn.Module) -> str:
    """Fingerprint of ``model``'s state dict (see :func:`state_dict_fingerprint`)."""
    return state_dict_fingerprint(model.state_dict())
