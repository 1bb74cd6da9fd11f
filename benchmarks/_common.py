"""Helpers shared by the benchmark scripts: timing, and writing results (CSV + markdown)."""

from __future__ import annotations

import csv
import io
import platform
import time
from contextlib import contextmanager
from pathlib import Path

import torch

from causalnet.fileio import atomic_write_text

RESULTS = Path(__file__).resolve().parent / "results"


@contextmanager
def timed(store: dict, key: str):
    start = time.perf_counter()
    yield
    store[key] = time.perf_counter() - start


def machine() -> str:
    return (f"{platform.machine()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}, "
            f"{platform.python_version()}")


def write_csv(name: str, rows: list[dict], folder: Path = RESULTS) -> Path:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return atomic_write_text(Path(folder) / name, buf.getvalue())


def markdown_table(rows: list[dict]) -> str:
    cols = list(rows[0])
    fmt = lambda v: f"{v:.4g}" if isinstance(v, float) else str(v)  # noqa: E731
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(r[c]) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def read_csv(path: Path) -> list[dict]:
    """Rows of a CSV a benchmark wrote, numbers parsed back (missing file: no rows)."""
    if not path.is_file():
        return []

    def parse(v: str):
        try:
            f = float(v)
        except ValueError:
            return v
        return int(f) if f.is_integer() and "." not in v and "e" not in v.lower() else f
    return [{k: parse(v) for k, v in r.items()} for r in csv.DictReader(io.StringIO(path.read_text()))]
