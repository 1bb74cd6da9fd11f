"""The whole of a pruning plan checked before any of it is used: types, shapes and option names,
so that a tampered ``plan.json`` is refused with a :class:`~pruning.io.PlanFormatError` (exit 2)
before the caller's model is touched."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from causalnet.errors import CausalnetInputError

DISCOVER_OPTIONS = ("ignore", "output_layer")   # the discover_units keywords a plan may carry
MAX_SIDE = 65536


class PlanFormatError(CausalnetInputError):
    """A folder or file that does not hold a readable causalnet pruning plan."""


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def plan_problems(plan: Any, schema: str, version: int) -> list[str]:
    """Everything wrong with ``plan`` (empty when it can be applied)."""
    if not isinstance(plan, Mapping):
        return [f"it is a {type(plan).__name__}, not a JSON object"]
    out = []
    if plan.get("schema") != schema:
        out.append(f"its schema is {plan.get('schema')!r}, not {schema!r}")
    if plan.get("schema_version") != version:
        out.append(f"its schema version is {plan.get('schema_version')!r}; this causalnet reads version {version}")
    for key in ("source_fingerprint", "input_shape", "removal"):
        if key not in plan:
            out.append(f"it lacks the field {key!r}")
    for key in ("source_fingerprint", "pruned_fingerprint"):
        if key in plan and not (isinstance(plan[key], str) and plan[key].startswith("sha256:")):
            out.append(f"{key} is {plan[key]!r}, expected 'sha256:...'")
    shape = plan.get("input_shape", [1])
    if not (isinstance(shape, list) and 1 <= len(shape) <= 4
            and all(_is_int(s) and 0 < s <= MAX_SIDE for s in shape)):
        out.append(f"input_shape is {shape!r}, expected 1 to 4 positive integers")
    removal = plan.get("removal", {})
    if not isinstance(removal, Mapping):
        out.append(f"removal is {type(removal).__name__}, expected layer name -> unit indices")
    else:
        for name, idx in removal.items():
            if not (isinstance(idx, list) and all(_is_int(i) and i >= 0 for i in idx)
                    and len(set(idx)) == len(idx)):
                out.append(f"removal[{name!r}] is {idx!r}, expected distinct unit indices >= 0")
    for key in ("repair", "settings", "discover_options"):
        if key in plan and not isinstance(plan[key], Mapping):
            out.append(f"{key} is {type(plan[key]).__name__}, expected an object")
    biases = (plan.get("repair") or {}).get("created_biases", []) if isinstance(plan.get("repair"), Mapping) else []
    if not (isinstance(biases, list) and all(isinstance(b, str) for b in biases)):
        out.append(f"repair.created_biases is {biases!r}, expected module names")
    options = plan.get("discover_options") or {}
    if isinstance(options, Mapping):
        unknown = sorted(set(options) - set(DISCOVER_OPTIONS))
        if unknown:
            out.append(f"discover_options has unknown key(s) {unknown}; known: {list(DISCOVER_OPTIONS)}")
        ignore = options.get("ignore", [])
        if not (isinstance(ignore, list) and all(isinstance(i, str) for i in ignore)):
            out.append(f"discover_options.ignore is {ignore!r}, expected module names")
        if not isinstance(options.get("output_layer"), str | None):
            out.append(f"discover_options.output_layer is {options.get('output_layer')!r}, expected a module name")
    return out


def check_plan(plan: Any, where: str, schema: str, version: int) -> None:
    """Raise :class:`PlanFormatError` naming every problem of ``plan`` (from ``where``)."""
    problems = plan_problems(plan, schema, version)
    if problems:
        raise PlanFormatError(f"{where} is not a usable causalnet pruning plan: " + "; ".join(problems[:5])
                              + ". Prune again to write a new one")
