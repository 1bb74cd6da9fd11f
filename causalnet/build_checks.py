"""Checks a build makes before any work: every setting is a number that makes sense, and the
private copy of the model the interventions run on can be made (and carries no user hooks)."""

from __future__ import annotations

import copy
import math
from typing import Any

from torch import nn

from .errors import CausalnetInputError

_MAX_SEED = 2**31


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _finite(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def check_settings(s: Any) -> None:
    """Refuse a :class:`~causalnet.builder.BuildSettings` whose numbers make no sense (NaN, a
    negative count, an empty class list) with a :class:`CausalnetInputError`, before any work."""
    if not _finite(s.alpha) or not 0 < s.alpha < 1:
        raise CausalnetInputError(f"alpha must be a number in (0, 1), got {s.alpha!r}")
    if not _finite(s.beta):
        raise CausalnetInputError(f"beta must be a finite number, got {s.beta!r}")
    for name in ("samples_per_class", "calibration_per_class"):
        value = getattr(s, name)
        if not _is_int(value) or value < 2:
            raise CausalnetInputError(f"{name} must be an integer of at least 2, got {value!r}")
    if not _is_int(s.seed) or not 0 <= s.seed < _MAX_SEED:
        raise CausalnetInputError(f"seed must be an integer in [0, 2**31), got {s.seed!r}")
    if not _is_int(s.max_edge_tests) or s.max_edge_tests < 1:
        raise CausalnetInputError(f"max_edge_tests must be a positive integer, got {s.max_edge_tests!r}")
    if s.units_per_forward != "auto" and (not _is_int(s.units_per_forward) or s.units_per_forward < 1):
        raise CausalnetInputError(f"units_per_forward must be 'auto' or a positive integer, got "
                                  f"{s.units_per_forward!r}")
    for name in ("screen_margin", "global_screen_margin"):
        value = getattr(s, name)
        if not _finite(value) or value < 0:
            raise CausalnetInputError(f"{name} must be a finite number >= 0, got {value!r}")
    if not _is_int(s.screen_min) or s.screen_min < 0:
        raise CausalnetInputError(f"screen_min must be an integer >= 0, got {s.screen_min!r}")
    if s.classes is not None:
        if not isinstance(s.classes, list | tuple) or not s.classes:
            raise CausalnetInputError("classes must name at least one class index (or be None "
                                      f"for every class), got {s.classes!r}")
        bad = [c for c in s.classes if not _is_int(c) or c < 0]
        if bad:
            raise CausalnetInputError(f"class indices must be integers >= 0, got {bad}")
    if not s.class_graphs and not s.global_effects:
        raise CausalnetInputError("with neither class graphs nor global effects there is nothing "
                                  "to build")


def check_pool(s: Any, pools: dict[int, int]) -> None:
    """Refuse sample counts that no class of the data can supply (``pools``: images per class)."""
    largest = max(pools.values(), default=0)
    for name, flag in (("samples_per_class", s.class_graphs), ("calibration_per_class", s.global_effects)):
        value = getattr(s, name)
        if flag and value > largest:
            option = "--samples" if name == "samples_per_class" else "--calibration"
            raise CausalnetInputError(
                f"{name} is {value} but the largest class of this data has {largest} images; "
                f"ask for at most {largest} ({option} in the CLI)")


def check_ignore(model: nn.Module, ignore) -> None:
    """Refuse ``ignore`` names that are not modules of ``model`` (they would be ignored silently)."""
    if isinstance(ignore, str) or not all(isinstance(n, str) for n in ignore):
        raise CausalnetInputError(f"ignore must be a list of module names, got {ignore!r}")
    names = {n for n, _ in model.named_modules()}
    unknown = sorted(set(ignore) - names)
    if unknown:
        close = sorted(n for n in names if n and any(u.split(".")[0] in n for u in unknown))[:6]
        raise CausalnetInputError(f"no module named {unknown} in {type(model).__name__} to ignore"
                                  + (f"; modules with similar names: {close}" if close else ""))


def private_copy(model: nn.Module) -> nn.Module:
    """A deep copy of ``model`` in eval mode with every forward/backward hook removed (the
    user's hooks must not fire, or change outputs, during a build). The user's model is not
    touched."""
    try:
        net = copy.deepcopy(model)
    except Exception as exc:
        raise CausalnetInputError(
            f"the model cannot be copied ({type(exc).__name__}: {exc}); causalnet works on a private "
            "copy so that your model is never changed. Make the model deep-copyable: keep objects "
            "such as locks, open files or sessions outside the module, or give their class a "
            "__deepcopy__") from None
    for m in net.modules():
        for attr in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks",
                     "_forward_hooks_with_kwargs", "_forward_pre_hooks_with_kwargs",
                     "_forward_hooks_always_called"):
            hooks = m.__dict__.get(attr)
            if hooks is not None:
                hooks.clear()
    return net.eval()
