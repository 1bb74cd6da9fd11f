"""Saving and loading a pruned model: the weights, the plan that rebuilds its structure, a report.

A folder holds ``pruned.safetensors`` (the pruned model's state dict: no pickle), ``plan.json``
(schema ``causalnet.pruning_plan`` version 1: the removed units per layer, the fingerprint of the
source model, the example input shape that rebuilds the dependency graph, the repair done and the
settings), ``report.json`` and ``report.md``. Repaired biases and BatchNorm statistics are simply
part of the pruned state dict; only biases the repair *created* change the structure, and the plan
lists them. Every file is written atomically.

Loading rebuilds the structure on a fresh instance of the source model (checked by fingerprint),
then loads the saved weights, so the outputs are those of the model that was saved.
"""

from __future__ import annotations

import copy
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from causalnet.errors import CausalnetInputError, ModelMismatchError
from causalnet.fileio import atomic_write, atomic_write_json, atomic_write_text
from causalnet.fingerprint import model_fingerprint

from .plan_check import PlanFormatError, check_plan
from .removal import add_missing_biases, apply_plan
from .report import render_markdown

SCHEMA = "causalnet.pruning_plan"
SCHEMA_VERSION = 1
WEIGHTS, PLAN, REPORT_JSON, REPORT_MD = "pruned.safetensors", "plan.json", "report.json", "report.md"




def make_plan(source_model: nn.Module, removal: Mapping[str, list[int]],
              input_shape: tuple[int, ...], *, repair: Mapping | None = None,
              settings: Mapping | None = None, discover_options: Mapping | None = None,
              fingerprint: str | None = None) -> dict:
    """The plan of a pruning, to pass to :func:`save_pruned`. Call it on the source model BEFORE
    repairing or pruning it (its fingerprint identifies the model the plan applies to).
    ``repair`` is what :func:`pruning.repair.fold_means` returned (plus e.g.
    ``{"batchnorm_reestimated": true}``); ``discover_options`` are the ``discover_units`` keyword
    arguments (``ignore``, ``output_layer``) used when planning; ``fingerprint`` is the source
    model's when the caller already computed it (else it is computed here)."""
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "source_fingerprint": fingerprint or model_fingerprint(source_model),
        "input_shape": [int(s) for s in input_shape],
        "removal": {name: sorted(int(i) for i in idx) for name, idx in removal.items() if len(idx)},
        "repair": _jsonable(dict(repair or {})),
        "settings": _jsonable(dict(settings or {})),
        "discover_options": _jsonable(dict(discover_options or {})),
    }


def _jsonable(obj):
    """``obj`` with tensors, numpy values and tuples made JSON-native (non-finite floats -> None)."""
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, torch.Tensor):
        return _jsonable(obj.tolist())
    if hasattr(obj, "item") and callable(obj.item):
        return _jsonable(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    return str(obj)


def _check_plan(plan: Mapping, where: str) -> None:
    check_plan(plan, where, SCHEMA, SCHEMA_VERSION)


def save_pruned(model: nn.Module, plan: Mapping, folder: str | os.PathLike, report: Mapping) -> Path:
    """Write the pruned ``model``, its ``plan`` (from :func:`make_plan`) and ``report`` into
    ``folder`` (created if needed), each file atomically. Returns the folder."""
    from safetensors.torch import save_file

    _check_plan(plan, "the plan")
    folder = Path(folder)
    plan = dict(plan)
    plan["pruned_fingerprint"] = model_fingerprint(model)
    # contiguous copies: safetensors refuses strided views and tensors sharing storage
    state = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    metadata = {"schema": SCHEMA, "source_fingerprint": plan["source_fingerprint"]}
    atomic_write(folder / WEIGHTS, lambda tmp: save_file(state, str(tmp), metadata=metadata))
    atomic_write_json(folder / PLAN, _jsonable(plan))
    atomic_write_json(folder / REPORT_JSON, _jsonable(dict(report)))
    atomic_write_text(folder / REPORT_MD, render_markdown(report, plan))
    return folder


def load_plan(folder: str | os.PathLike) -> dict:
    """The plan saved in ``folder`` (checked for schema and version)."""
    path = Path(folder) / PLAN
    if not path.is_file():
        raise PlanFormatError(f"{str(Path(folder))!r} holds no {PLAN}; is it a folder written by "
                              "pruning.io.save_pruned?")
    try:
        plan = json.loads(path.read_text())
    except RecursionError:
        raise PlanFormatError(f"{str(path)!r} nests JSON too deeply to be a pruning plan") from None
    except (OSError, ValueError) as exc:
        raise PlanFormatError(f"cannot read {str(path)!r}: {exc}") from None
    if not isinstance(plan, dict):
        raise PlanFormatError(f"{str(path)!r} does not hold a JSON object")
    _check_plan(plan, repr(str(path)))
    return plan


def load_pruned(model: nn.Module, folder: str | os.PathLike) -> nn.Module:
    """Rebuild the pruned model saved in ``folder`` from a fresh copy of its source model.

    The whole plan is checked first and the removal replayed on a copy, so on any error
    ``model`` is unchanged.

    Args:
        model: a fresh instance of the source model with its original weights.
        folder: a folder written by :func:`save_pruned` (``causalnet prune`` / ``debias``).

    Returns:
        ``model``, pruned in place (the removal replayed, the saved weights loaded), eval mode.

    Raises:
        ModelMismatchError: ``model`` is not the model the plan was made from (fingerprint).
        PlanFormatError: the plan is damaged or cannot be replayed.
    """
    from safetensors.torch import load_file

    folder = Path(folder)
    plan = load_plan(folder)
    found = model_fingerprint(model)
    if found != plan["source_fingerprint"]:
        raise ModelMismatchError(
            f"the pruning plan in {str(folder)!r} was made from model {plan['source_fingerprint'][:23]}"
            f"..., but this model is {found[:23]}...: load the same architecture with the same "
            "weights it was pruned from (pruned or fine-tuned models have other fingerprints)")
    weights = folder / WEIGHTS
    if not weights.is_file():
        raise PlanFormatError(f"{str(folder)!r} holds no {WEIGHTS}")
    try:
        state = load_file(str(weights))
    except Exception as exc:
        raise PlanFormatError(f"{str(weights)!r} is not a readable .safetensors file: {exc}") from None
    try:
        work = copy.deepcopy(model)
    except Exception:   # a model that cannot be copied is pruned in place (plan checked above)
        work = model
    try:
        apply_plan(work, plan)
    except CausalnetInputError:
        raise
    except Exception as exc:   # e.g. an input_shape the model cannot run on
        raise PlanFormatError(f"the plan in {str(folder)!r} cannot be replayed on this model "
                              f"({type(exc).__name__}: {exc}); prune again to write a new one") from None
    own = work.state_dict()
    biases = {k[: -len(".bias")]: v.shape for k, v in state.items()
              if k.endswith(".bias") and k not in own}
    add_missing_biases(work, biases, biases)
    try:
        work.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelMismatchError(f"the weights in {str(weights)!r} do not fit the rebuilt model: "
                                 f"{str(exc).splitlines()[0]}") from None
    expected = plan.get("pruned_fingerprint")
    if expected and model_fingerprint(work) != expected:
        raise ModelMismatchError(f"the model rebuilt from {str(folder)!r} differs from the one saved "
                                 "(fingerprint mismatch)")
    if work is not model:   # success: the caller's model becomes the rebuilt one, in place
        model.__dict__.clear()
        model.__dict__.update(work.__dict__)
    return model.eval()
