"""Smoke test of the pruning benchmark: the quick run writes well-formed CSV, markdown and PNG
(the values are not checked: they are the benchmark's business)."""

import csv

import pytest

from benchmarks import pruning_tradeoff as pt


def test_quick_run_writes_wellformed_outputs(tmp_path):
    files = pt.run(quick=True, out_dir=tmp_path)
    names = {f.name for f in files}
    assert "pruning_tradeoff_quick.csv" in names and "pruning_tradeoff_quick.md" in names
    assert all(f.exists() and f.parent == tmp_path for f in files)
    pngs = [f for f in files if f.suffix == ".png"]
    assert pngs and all(f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for f in pngs)

    with open(tmp_path / "pruning_tradeoff_quick.csv", newline="") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames) == pt.FIELDS
        rows = list(reader)
    job = pt.quick_plan()[0]
    pruned = [r for r in rows if r["method"] != "unpruned"]
    # every method, level and repair has exactly one row, with numbers when it ran
    keys = {(r["method"], r["target"], r["repair"]) for r in pruned}
    assert len(keys) == len(pruned) == len(job.methods) * len(job.levels) * len(pt.REPAIRS)
    assert [r["status"] for r in rows if r["method"] == "unpruned"] == ["ok"]
    for r in rows:
        assert r["status"] in ("ok", "not reached", "n/a"), r
        if r["status"] == "ok":
            assert 0.0 <= float(r["accuracy"]) <= 1.0
            assert int(r["params"]) > 0 and int(r["macs"]) > 0
            assert -1e-9 <= float(r["params_removed"]) < 1.0
    assert any(r["latency_b64_ms"] for r in pruned if r["status"] == "ok")

    md = (tmp_path / "pruning_tradeoff_quick.md").read_text()
    assert md.startswith("# Pruning trade-off") and "| method |" in md and "cswap+repair" in md

    # resumable: a second run computes nothing and keeps the rows
    pt.run(quick=True, out_dir=tmp_path)
    with open(tmp_path / "pruning_tradeoff_quick.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == len(rows)


def test_plan_narrows_to_models_and_sweeps():
    full = pt.plan_jobs(seeds=3)
    assert {j.sweep for j in full} == {"params", "macs"} and {j.model for j in full} == set(pt.MODELS)
    macs = pt.plan_jobs(models=("mobilenetv2",), sweeps=("macs",))
    assert macs and all(j.model == "mobilenetv2" and j.sweep == "macs" for j in macs)
    assert all(j in full for j in macs) and len(macs) < len(full)
    assert [j for j in full if j.model == "mobilenetv2" and j.sweep == "macs"] == macs
    assert pt.plan_jobs(True, sweeps=("macs",)) == []


def test_fashion_plan_puts_both_budgets_and_three_seeds_at_30_50_70_first():
    jobs = pt.plan_jobs(seeds=3, data="fashion", models=("fashion_lenet5", "fashion_resnet20"))
    assert {j.model for j in jobs} == {"fashion_lenet5", "fashion_resnet20"}
    head = jobs[:12]  # 2 models x 2 budgets x 3 seeds, all at 30/50/70%
    assert all(j.levels == (0.3, 0.5, 0.7) for j in head)
    assert {(j.model, j.sweep, j.seed) for j in head} == {
        (m, s, k) for m in ("fashion_lenet5", "fashion_resnet20") for s in ("params", "macs")
        for k in range(3)}
    # then every level 10-80%, both budgets, every seed
    full = {(j.model, j.sweep, j.seed) for j in jobs if j.levels == pt.LEVELS}
    assert full == {(m, s, k) for m, s, k in {(j.model, j.sweep, j.seed) for j in head}}
    assert all(j.eval_images is None for j in jobs)  # the full test split


def test_models_of_another_zoo_are_refused(capsys):
    with pytest.raises(SystemExit) as exc:
        pt.main(["--data", "fashion", "--models", "lenet5"])
    assert exc.value.code == 2
    assert "not in the fashion zoo" in capsys.readouterr().err


def test_methods_narrow_every_job(tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr(pt, "run_job", lambda job, *a: seen.append(job.methods))
    monkeypatch.setattr(pt, "write_reports", lambda *a, **k: [])
    monkeypatch.setattr("causalnet.data.load_data", lambda spec: None)
    pt.run(True, tmp_path, methods=("l1", "cswap", "lamp"))
    quick = pt.plan_jobs(True)[0].methods
    assert seen == [tuple(m for m in ("l1", "cswap", "lamp") if m in quick)]   # narrowed, in the order given
    assert seen[0][:2] == ("l1", "cswap")
    with pytest.raises(SystemExit):
        pt.main(["--methods", "magnitude"])


def _row(**kw) -> dict:
    base = {k: "" for k in pt.FIELDS}
    base.update(model="fashion_lenet5", sweep="params", target="0.3", method="l1", repair="lsq",
                seed="0", eval_images="", status="ok", accuracy="0.9")
    return {**base, **kw}


def _write(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=pt.FIELDS)
        w.writeheader()
        w.writerows(rows)


def test_merge_appends_only_the_rows_missing_and_skips_errors(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(pt, "write_reports", lambda *a, **k: [])
    _write(tmp_path / "pruning_tradeoff_fashion.csv", [_row(), _row(method="lamp", accuracy="0.91")])
    other = tmp_path / "other.csv"
    _write(other, [_row(accuracy="0.5"),                       # already there: the old row stays
                   _row(method="lamp", seed="1", accuracy="0.92"),
                   _row(method="cswap", status="error: boom")])
    assert pt.main(["--data", "fashion", "--out", str(tmp_path), "--merge", str(other)]) == 0
    assert "1 rows merged" in capsys.readouterr().out
    with open(tmp_path / "pruning_tradeoff_fashion.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["method"], r["seed"], r["accuracy"]) for r in rows] == [
        ("l1", "0", "0.9"), ("lamp", "0", "0.91"), ("lamp", "1", "0.92")]
    with pytest.raises(SystemExit) as exc:       # a missing file, and a CSV of something else
        pt.main(["--out", str(tmp_path), "--merge", str(tmp_path / "nope.csv")])
    assert exc.value.code == 2 and "no such file" in capsys.readouterr().err
    (tmp_path / "bad.csv").write_text("planner,lsq_30\nx,1\n")
    with pytest.raises(SystemExit) as exc:
        pt.main(["--data", "fashion", "--out", str(tmp_path), "--merge", str(tmp_path / "bad.csv")])
    assert exc.value.code == 2 and "not a pruning trade-off CSV" in capsys.readouterr().err


def test_latency_rounding_error_names_every_accepted_form():
    import argparse

    from benchmarks.latency_alignment import _rounding

    assert _rounding("none") is None and _rounding("8") == 8
    with pytest.raises(argparse.ArgumentTypeError, match="'none', a positive integer or 'auto'"):
        _rounding("0")
