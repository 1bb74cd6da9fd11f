"""What a pruning bought: size, MACs, accuracy, CPU latency and kept units, before vs after."""

from __future__ import annotations

import copy
import statistics
import time
from collections.abc import Mapping

import torch
from torch import nn

from causalnet.evaluate import (
    accuracy,
    count_macs_params,
    prefer_channels_last,
    wants_channels_last,
)
from causalnet.units import discover_units


def cpu_vector_width() -> int:
    """float32 lanes of this CPU's widest vector unit that PyTorch uses (16 with AVX-512, 8 with
    AVX2, 4 otherwise). oneDNN runs convolutions in blocks of this many channels and pads a
    layer up to whole blocks, so only widths that are multiples of it turn fewer MACs into less
    time (``benchmarks/results/latency_alignment.md``)."""
    capability = torch.backends.cpu.get_cpu_capability().upper()
    return 16 if "AVX512" in capability else 8 if "AVX2" in capability else 4


def latency_ms(model: nn.Module, input_shape: tuple[int, ...], batch_size: int, *,
               repeats: int = 10, warmup: int = 3) -> float:
    """Median wall-clock milliseconds of one forward of a ``batch_size`` batch on the CPU, after
    ``warmup`` runs, in inference mode (channels_last for convolutional models, the faster format
    here). Measured on a copy; ``model`` is not changed."""
    clone = copy.deepcopy(model).eval()
    x = torch.randn(batch_size, *input_shape)
    if x.ndim == 4:   # channels_last only where the model gives its own outputs in it
        prefer_channels_last(clone, x[:1])
        if wants_channels_last(clone):
            x = x.contiguous(memory_format=torch.channels_last)
    times = []
    with torch.inference_mode():
        for _ in range(warmup):
            clone(x)
        for _ in range(max(1, repeats)):
            start = time.perf_counter()
            clone(x)
            times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)


def kept_units(model: nn.Module, input_shape: tuple[int, ...]) -> dict[str, int]:
    """Units per unit layer of ``model`` as it is (found by :func:`causalnet.units.discover_units`)."""
    units = discover_units(model, torch.zeros(1, *input_shape))
    return {layer.name: layer.size for layer in units}


def measure(model: nn.Module, data_eval, input_shape: tuple[int, ...], *,
            batch_sizes: tuple[int, ...] = (1, 64), repeats: int = 10, warmup: int = 3) -> dict:
    """Parameters, MACs (:func:`causalnet.evaluate.count_macs_params`), test accuracy on
    ``data_eval`` (a dataset or an ``(images, labels)`` pair; None skips it), median CPU latency in
    ms per batch size, the torch thread count it ran with, and kept units per layer."""
    input_shape = tuple(int(s) for s in input_shape)
    macs, params = count_macs_params(model, input_shape)
    return {
        "params": params,
        "macs": macs,
        "accuracy": None if data_eval is None else accuracy(model, data_eval),
        "latency_ms": {str(b): latency_ms(model, input_shape, b, repeats=repeats, warmup=warmup)
                       for b in batch_sizes},
        "threads": torch.get_num_threads(),
        "units": kept_units(model, input_shape),
    }


def _count(n: float) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.2f}{unit}"
    return f"{n:.0f}"


def _ratio(before: float, after: float) -> str:
    return f"{(after - before) / before:+.1%}" if before else "n/a"


def compare(before: Mapping, after: Mapping) -> str:
    """A markdown table of two :func:`measure` results, then kept units per layer."""
    rows = ["| metric | before | after | change |", "|---|---:|---:|---:|"]
    for key, label in (("params", "parameters"), ("macs", "MACs")):
        rows.append(f"| {label} | {_count(before[key])} | {_count(after[key])} | "
                    f"{_ratio(before[key], after[key])} |")
    if before.get("accuracy") is not None and after.get("accuracy") is not None:
        drop = (after["accuracy"] - before["accuracy"]) * 100
        rows.append(f"| test accuracy | {before['accuracy']:.2%} | {after['accuracy']:.2%} | "
                    f"{drop:+.2f} pp |")
    for b, ms in before.get("latency_ms", {}).items():
        if b in after.get("latency_ms", {}):
            new = after["latency_ms"][b]
            speed = f"x{ms / new:.2f}" if new else "n/a"
            rows.append(f"| CPU latency, batch {b} (ms) | {ms:.2f} | {new:.2f} | {speed} |")
    units_before, units_after = before.get("units", {}), after.get("units", {})
    if units_before:
        rows += ["", "| unit layer | units before | kept | kept % |", "|---|---:|---:|---:|"]
        for name, n in units_before.items():
            kept = units_after.get(name)
            share = f"{kept / n:.0%}" if kept is not None and n else "n/a"
            rows.append(f"| `{name}` | {n} | {kept if kept is not None else 'n/a'} | {share} |")
    return "\n".join(rows) + "\n"


def render_markdown(report: Mapping, plan: Mapping | None = None) -> str:
    """``report.md``: the before/after table when the report has both, then its other fields."""
    lines = ["# Pruning report", ""]
    if plan is not None:
        removed = sum(len(v) for v in plan.get("removal", {}).values())
        lines += [f"- source model: `{plan.get('source_fingerprint', '?')}`",
                  f"- units removed: {removed} in {len(plan.get('removal', {}))} layers", ""]
    if isinstance(report.get("before"), Mapping) and isinstance(report.get("after"), Mapping):
        lines += [compare(report["before"], report["after"]), ""]
    for key, value in report.items():
        if key not in ("before", "after"):
            lines.append(f"- {key}: {value}")
    return "\n".join(lines).rstrip() + "\n"
