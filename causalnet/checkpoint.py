"""Build checkpoints: the finished steps of a graph build, so a killed build resumes.

A checkpoint is keyed on everything its numbers depend on: the model's fingerprint, the build
settings, the classes, a fingerprint of the images actually drawn (the calibration set and every
class's inputs), the checkpoint schema and causalnet's version. A checkpoint with another key is
ignored (and overwritten by the first finished step), so a resume never reuses numbers made from
other data, another model or other settings. Each entry is checked before use; an entry that is
valid JSON but not a finished step of this build is ignored and recomputed.

The checkpoint is deleted only after the graph file is written (:meth:`BuildCheckpoint.discard`,
called by whoever writes the graph), so a kill between the two loses nothing.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from .fileio import atomic_write_json

CHECKPOINT_VERSION = 2
GLOBAL_LISTS = ("xi", "ci_low", "ci_high", "p", "mean_log_ratio")


def tensor_fingerprint(tensors: Iterable[torch.Tensor]) -> str:
    """``sha256:<hex>`` over the dtype, shape and values of each tensor, in order."""
    h = hashlib.sha256()
    for t in tensors:
        t = t.detach().to("cpu").contiguous()
        h.update(f"{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.numpy().tobytes())
    return "sha256:" + h.hexdigest()


def build_key(**parts: Any) -> str:
    """The checkpoint key: a hash of ``parts`` (JSON-serialisable) and the checkpoint schema."""
    from . import __version__

    src = json.dumps({**parts, "checkpoint_version": CHECKPOINT_VERSION, "causalnet": __version__},
                     sort_keys=True, default=str)
    return hashlib.sha256(src.encode()).hexdigest()


def _is_num(x: Any) -> bool:
    return x is None or (isinstance(x, int | float) and not isinstance(x, bool)
                         and (not isinstance(x, float) or math.isfinite(x)))


def _num_list(x: Any, n: int) -> bool:
    return isinstance(x, list) and len(x) == n and all(_is_num(v) for v in x)


def valid_global_entry(entry: Any, size: int) -> bool:
    """Whether ``entry`` is a finished global-effects step of a layer of ``size`` units."""
    if not isinstance(entry, dict):
        return False
    if not all(_num_list(entry.get(k), size) for k in GLOBAL_LISTS):
        return False
    exact = entry.get("exact")
    if not (isinstance(exact, list) and len(exact) == size and all(isinstance(v, bool) for v in exact)):
        return False
    effects = entry.get("class_effects")
    if not isinstance(effects, dict) or not all(
            isinstance(c, str) and c.lstrip("-").isdigit() and _num_list(v, size) for c, v in effects.items()):
        return False
    n = entry.get("n_calibration")
    return isinstance(n, int) and not isinstance(n, bool) and n > 0


def valid_class_entry(entry: Any, node_ids: set[str]) -> bool:
    """Whether ``entry`` is a finished class walk whose edges join known nodes."""
    if not isinstance(entry, dict):
        return False
    n = entry.get("n_samples")
    if not (isinstance(n, int) and not isinstance(n, bool) and n > 0):
        return False
    if not _is_num(entry.get("observed_mean")) or entry.get("observed_mean") is None:
        return False
    log = entry.get("layers_tested")
    if not isinstance(log, list) or not all(isinstance(r, dict) and isinstance(r.get("layer"), str) for r in log):
        return False
    edges = entry.get("edges")
    if not isinstance(edges, list):
        return False
    for e in edges:
        if not (isinstance(e, list) and len(e) == 7 and isinstance(e[0], str) and isinstance(e[1], str)
                and e[0] in node_ids and e[1] in node_ids and all(_is_num(v) for v in e[2:6])
                and isinstance(e[6], str)):
            return False
    return True


def valid_block_entry(entry: Any, size: int, n: int) -> bool:
    """Whether ``entry`` is a finished block of ``size`` units: one row of ``n`` finite log
    ratios per unit."""
    return (isinstance(entry, list) and len(entry) == size
            and all(isinstance(row, list) and len(row) == n and all(_is_num(v) for v in row)
                    for row in entry))


def _read_state(path: Path, key: str) -> dict | None:
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError, RecursionError):
        return None
    if (isinstance(saved, dict) and saved.get("key") == key
            and saved.get("version") == CHECKPOINT_VERSION
            and isinstance(saved.get("global"), dict) and isinstance(saved.get("classes"), dict)):
        if not isinstance(saved.get("blocks"), dict):
            saved["blocks"] = {}
        return saved
    return None


class BuildCheckpoint:
    """Finished steps of one build, saved atomically after each step, under ``key``.

    ``path=None`` keeps nothing. ``ignored`` counts the entries found but not usable.

    In a distributed build (``rank`` > 0) each rank writes its own file next to ``path``
    (``NAME.rankR.SUFFIX``, :func:`rank_path`) and reads every rank's file, so a resumed build,
    with any number of ranks, reuses what any rank finished. Sections: ``global`` (a layer's
    global effects), ``blocks`` (a block of units of a layer not yet finished), ``classes`` (a
    class walk).

    Finished layers and classes are written at once; blocks at most every ``every`` seconds
    (a block is a small share of a layer, and rewriting the file after each one costs a
    layer's worth of JSON per block on large calibration sets), so a kill loses at most that
    much block work. :meth:`flush` writes what is pending (the builder calls it when a build
    fails).
    """

    def __init__(self, path: str | os.PathLike | None, key: str, *, rank: int = 0, every: float = 30.0):
        self.main_path = Path(path) if path else None
        self.path = rank_path(self.main_path, rank) if self.main_path else None
        self.key = key
        self.ignored = 0
        self.reused = 0   # entries returned by get(): work a resumed build did not redo
        self.every = every
        self._written = float("-inf")   # time of the last write
        self._pending = False
        self.state: dict = {"version": CHECKPOINT_VERSION, "key": key, "global": {}, "classes": {},
                            "blocks": {}}
        self.found: dict = {"global": {}, "classes": {}, "blocks": {}}   # other ranks' entries
        self.resumed = False
        for other in self._files():
            saved = _read_state(other, key)
            if saved is None:
                continue
            self.resumed = True
            if other == self.path:
                self.state = saved
            else:
                for section in self.found:
                    self.found[section].update(saved[section])

    def _files(self) -> list[Path]:
        if self.main_path is None:
            return []
        p = self.main_path
        files = [p, *sorted(p.parent.glob(f"{p.stem}.rank*{p.suffix}"))] if p.parent.is_dir() else [p]
        return [f for f in files if f.is_file()]

    def get(self, section: str, name: str, valid) -> Any:
        """The saved entry (this rank's or any other's), or None when there is none or
        ``valid(entry)`` is false."""
        for source in (self.state[section], self.found[section]):
            entry = source.get(name)
            if entry is None:
                continue
            if valid(entry):
                self.reused += 1
                return entry
            self.ignored += 1
            del source[name]
        return None

    def put(self, section: str, name: str, value: Any) -> None:
        self.state[section][name] = value
        self._pending = True
        if section != "blocks" or time.monotonic() - self._written >= self.every:
            self._write()

    def flush(self) -> None:
        """Write entries not yet on disk."""
        if self._pending:
            self._write()

    def drop(self, section: str, prefix: str) -> None:
        """Forget this rank's entries of ``section`` whose names start with ``prefix`` (blocks of
        a finished layer), without writing: the next :meth:`put` writes."""
        for name in [k for k in self.state[section] if k.startswith(prefix)]:
            del self.state[section][name]

    def _write(self) -> None:
        if self.path:
            atomic_write_json(self.path, self.state, indent=None)
        self._written, self._pending = time.monotonic(), False

    def discard(self) -> None:
        """Delete the checkpoint files of every rank (call after the graph is safely written,
        once every rank is done)."""
        for f in self._files():
            f.unlink(missing_ok=True)


def rank_path(path: Path, rank: int) -> Path:
    """The checkpoint file of ``rank``: ``path`` itself for rank 0, ``NAME.rankR.SUFFIX`` else."""
    return path if rank == 0 else path.with_name(f"{path.stem}.rank{rank}{path.suffix}")


__all__ = ["BuildCheckpoint", "CHECKPOINT_VERSION", "build_key", "rank_path", "tensor_fingerprint",
           "valid_block_entry", "valid_class_entry", "valid_global_entry"]
