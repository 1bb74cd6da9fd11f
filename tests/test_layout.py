"""The graph is the hub: causalnet never imports pruning, viz or benchmarks."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_causalnet_does_not_import_consumers():
    offenders = []
    for path in (ROOT / "causalnet").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names
                          if n.split(".")[0] in {"pruning", "viz", "benchmarks"}]
    assert offenders == []
