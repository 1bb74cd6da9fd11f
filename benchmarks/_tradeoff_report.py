"""The pruning trade-off benchmark's report: summary, headline, difference, versus, job and
timing tables, the plots and the markdown (the runs are :mod:`benchmarks.pruning_tradeoff`)."""

from __future__ import annotations

import statistics
from collections import defaultdict
from pathlib import Path

from benchmarks._common import machine, markdown_table
from benchmarks._tradeoff_plan import (
    ALL_MODELS,
    CSWAP_RUNS,
    FAST,
    FORCED,
    LATENCY_RUNS,
    NAMED_BASELINE,
    PLANNER,
    REPAIRED,
    REPAIRS,
    TP_LEVEL,
    Job,
    _fmt_level,
    _key,
)
from causalnet.fileio import atomic_write_text


def _label(method: str, repair: str) -> str:
    return method if repair == "none" else f"{method}+repair"


def _acc_stats(accs: list[float]) -> dict:
    return {"accuracy": statistics.fmean(accs), "sd": statistics.stdev(accs) if len(accs) > 1 else None,
            "n": len(accs)}


def _mean_points(rows: list[dict]) -> dict[tuple, dict]:
    """Mean over seeds of every (model, sweep, target, method, repair) point with status ok."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        if r["status"] == "ok" and r["method"] != "unpruned":
            groups[(r["model"], r["sweep"], r["target"], r["method"], r["repair"])].append(r)
    out = {}
    for k, rs in groups.items():
        out[k] = {**_acc_stats([float(r["accuracy"]) for r in rs]),
                  "params_removed": statistics.fmean(float(r["params_removed"]) for r in rs),
                  "macs_removed": statistics.fmean(float(r["macs_removed"]) for r in rs),
                  "latency_b1_ms": next((float(r["latency_b1_ms"]) for r in rs if r["latency_b1_ms"]), None),
                  "latency_b64_ms": next((float(r["latency_b64_ms"]) for r in rs if r["latency_b64_ms"]),
                                         None)}
    return out


def _acc_cell(p: dict | None) -> str:
    if p is None:
        return "-"
    cell = f"{100 * p['accuracy']:.2f}"
    if p["sd"] is not None:
        cell += f" ± {100 * p['sd']:.2f} (n={p['n']})"
    return cell


STALLED = 3.0


def _stalled(ms: float, unpruned_ms: float) -> str:
    return " (stalled?)" if ms > STALLED * unpruned_ms else ""


def summary_tables(rows: list[dict]) -> str:
    """Markdown: per model and sweep, accuracy (%) of every method at every level, with and
    without repair; C-SWAP minus the named baseline; latency; the Torch-Pruning setting."""
    pts = _mean_points(rows)
    unpruned = {r["model"]: r for r in rows if r["method"] == "unpruned" and r["status"] == "ok"}
    sweeps = sorted({(r["model"], r["sweep"]) for r in rows if r["method"] != "unpruned"},
                    key=lambda ms: (ALL_MODELS.index(ms[0]) if ms[0] in ALL_MODELS else 99, ms[1] != "params"))
    methods = list(dict.fromkeys(r["method"] for r in rows if r["method"] != "unpruned"))
    status = {(r["model"], r["sweep"], r["target"], r["method"], r["repair"]): r["status"]
              for r in rows}
    parts = []
    for model, sweep in sweeps:
        levels = sorted({r["target"] for r in rows if (r["model"], r["sweep"]) == (model, sweep)},
                        key=float)
        u = unpruned.get(model)
        n_eval = u["eval_images"] if u else "?"
        head = (f"### {model}, {sweep} removed (test accuracy %, {n_eval} test images"
                + (f"; unpruned {100 * float(u['accuracy']):.2f}" if u else "") + ")")
        table = []
        for repair in REPAIRS:
            for m in methods:
                row = {"method": _label(m, repair)}
                for lv in levels:
                    p = pts.get((model, sweep, lv, m, repair))
                    st = status.get((model, sweep, lv, m, repair), "")
                    row[f"{float(lv):.0%}" if len(lv) <= 3 else f"{100 * float(lv):.1f}%"] = (
                        _acc_cell(p) if p else ("not reached" if st == "not reached" else
                                                "n/a" if st == "n/a" else "-"))
                table.append(row)
        diff = {"method": f"cswap - {NAMED_BASELINE} (pp), both +repair"}
        for lv in levels:
            a = pts.get((model, sweep, lv, "cswap", REPAIRED))
            b = pts.get((model, sweep, lv, NAMED_BASELINE, REPAIRED))
            col = f"{float(lv):.0%}" if len(lv) <= 3 else f"{100 * float(lv):.1f}%"
            diff[col] = f"{100 * (a['accuracy'] - b['accuracy']):+.2f}" if a and b else "-"
        table.append(diff)
        parts += [head, "", markdown_table(table), ""]
        lat = [(lv, m) for lv in levels for m in methods
               if (pts.get((model, sweep, lv, m, REPAIRED)) or {}).get("latency_b64_ms")]
        if lat and u and u["latency_b64_ms"]:
            b1, b64 = float(u["latency_b1_ms"]), float(u["latency_b64_ms"])
            lrows = [{"level": "0%", "method": "unpruned", "params removed": "0%", "MACs removed": "0%",
                      "batch 1 ms": f"{b1:.2f}", "batch 64 ms": f"{b64:.1f}", "speed-up (64)": "x1.00",
                      "MACs ratio": "x1.00", "MACs ratio / speed-up": "1.00"}]
            for lv, m in lat:
                p = pts[(model, sweep, lv, m, REPAIRED)]
                lrows.append({"level": f"{100 * float(lv):.3g}%", "method": m,
                              "params removed": f"{p['params_removed']:.1%}",
                              "MACs removed": f"{p['macs_removed']:.1%}",
                              "batch 1 ms": f"{p['latency_b1_ms']:.2f}" + _stalled(p["latency_b1_ms"], b1),
                              "batch 64 ms": f"{p['latency_b64_ms']:.1f}" + _stalled(p["latency_b64_ms"], b64),
                              "speed-up (64)": f"x{b64 / p['latency_b64_ms']:.2f}",
                              "MACs ratio": f"x{1 / max(1 - p['macs_removed'], 1e-9):.2f}",
                              "MACs ratio / speed-up": f"{(1 / max(1 - p['macs_removed'], 1e-9)) / (b64 / p['latency_b64_ms']):.2f}"})
            parts += [f"CPU latency ({model}, {sweep} sweep; fastest of {LATENCY_RUNS} forwards, the torch threads of the Machine line, "
                      "measured once per method and level: repair does not change the architecture; "
                      f"`stalled?`: a pruned model timed over {STALLED}x slower than the unpruned one, "
                      "which its size cannot explain: the shared machine stalled during that "
                      "measurement)", "", markdown_table(lrows), ""]
    tp = tp_rows(rows)
    if tp:
        parts += [f"### Torch-Pruning's setting: {TP_LEVEL:.1%} of MACs removed (2.11x fewer), "
                  "no fine-tuning", "", markdown_table(tp), ""]
    return "\n".join(parts)


def tp_rows(rows: list[dict]) -> list[dict]:
    pts = _mean_points(rows)
    lv = _fmt_level(TP_LEVEL)
    unpruned = {r["model"]: r for r in rows if r["method"] == "unpruned" and r["status"] == "ok"}
    if "resnet20" not in unpruned or not any(k[:3] == ("resnet20", "macs", lv) for k in pts):
        return []
    out = [{"model": "ResNet-56, CIFAR-10 (Torch-Pruning, published)", "method": "l1 (global)",
            "repair": "none", "MACs removed": "52.6%", "before": "93.5", "after": "28.1"}]
    before = f"{100 * float(unpruned['resnet20']['accuracy']):.2f}"
    for m, repair in (("l1", "none"), ("l1", REPAIRED), ("cswap", "none"), ("cswap", REPAIRED)):
        p = pts.get(("resnet20", "macs", lv, m, repair))
        out.append({"model": "ResNet-20, MNIST (this run)", "method": m, "repair": repair,
                    "MACs removed": f"{p['macs_removed']:.1%}" if p else "-", "before": before,
                    "after": _acc_cell(p) if p else "not reached"})
    return out


def plots(rows: list[dict], out_dir: Path, stem: str) -> list[Path]:
    """accuracy vs fraction kept, one line per method: one PNG per model, sweep and repair."""
    from viz.plots import accuracy_curves

    pts = _mean_points(rows)
    unpruned = {r["model"]: float(r["accuracy"]) for r in rows
                if r["method"] == "unpruned" and r["status"] == "ok"}
    files = []
    for model, sweep in sorted({k[:2] for k in pts}):
        for repair in REPAIRS:
            x = "params_frac" if sweep == "params" else "macs_frac"
            series = [{"method": _label(k[3], repair), x: 1 - p[f"{sweep}_removed"],
                       "accuracy": 100 * p["accuracy"]}
                      for k, p in pts.items() if k[:2] == (model, sweep) and k[4] == repair]
            series.sort(key=lambda r: (r["method"] != "cswap" and r["method"] != "cswap+repair",
                                       r["method"]))
            if not series:
                continue
            base = unpruned.get(model)
            title = (f"{model}: {sweep} sweep, {'with repair (' + REPAIRED + ')' if repair != 'none' else 'no repair'}"
                     ", no fine-tuning")
            path = out_dir / f"{stem}_{model}_{sweep}_{'repair' if repair != 'none' else 'norepair'}.png"
            files.append(accuracy_curves(series, path, x=x, y="accuracy",
                                         baseline=None if base is None else 100 * base, title=title))
    return files


def headline_table(rows: list[dict], sweep: str = "params",
                   levels: tuple[str, ...] = ("0.3", "0.5", "0.7")) -> str:
    """Test accuracy (%) of every method, with and without repair, per model at ``levels``
    (mean ± sd over the seeds run)."""
    pts = _mean_points(rows)
    models = [m for m in ALL_MODELS if any(k[0] == m and k[1] == sweep for k in pts)]
    methods = list(dict.fromkeys(r["method"] for r in rows if r["method"] != "unpruned"))
    status = {(r["model"], r["sweep"], r["target"], r["method"], r["repair"]): r["status"] for r in rows}
    unpruned = {r["model"]: f"{100 * float(r['accuracy']):.2f}" for r in rows
                if r["method"] == "unpruned" and r["status"] == "ok"}
    out = [{"method": "unpruned", **{f"{m} {float(lv):.0%}": unpruned.get(m, "-") for m in models
                                     for lv in levels}}]
    for repair in REPAIRS:
        for meth in methods:
            row = {"method": _label(meth, repair)}
            for m in models:
                for lv in levels:
                    p = pts.get((m, sweep, lv, meth, repair))
                    st = status.get((m, sweep, lv, meth, repair), "not run")
                    row[f"{m} {float(lv):.0%}"] = _acc_cell(p) if p else st
            out.append(row)
    return markdown_table(out)


def _cswap_point(rows: list[dict], model: str, sweep: str, level: str, repair: str
                 ) -> tuple[dict | None, str]:
    """C-SWAP's accuracy over seeds at one point: per seed the default run, or the tolerance-free
    run (``cswap_notol``) where the default stopped short; and a note of how many seeds needed it."""
    per_seed: dict[str, dict] = {}
    for method in ("cswap_notol", "cswap"):  # the default wins where it reached the level
        for r in rows:
            if ((r["model"], r["sweep"], r["target"], r["method"], r["repair"], r["status"])
                    == (model, sweep, level, method, repair, "ok")):
                per_seed[r["seed"]] = r
    if not per_seed:
        return None, ""
    off = sum(r["method"] == "cswap_notol" for r in per_seed.values())
    stats = {**_acc_stats([float(r["accuracy"]) for r in per_seed.values()]),
             **{f"{k}_removed": statistics.fmean(float(r[f"{k}_removed"]) for r in per_seed.values())
                for k in ("params", "macs")}}
    return stats, f" (tolerance off in {off} of {len(per_seed)})" if off else ""


def paired_rows(rows: list[dict]) -> list[dict]:
    """``rows`` restricted, at every (model, sweep, level, repair), to the seeds that C-SWAP and
    every baseline present there have all run, so that "C-SWAP minus the best baseline" compares
    the same calibration draws (a run that resumes seed by seed is otherwise compared across
    different seeds). C-SWAP's tolerance-free run counts as C-SWAP; its fast mode and other rows
    pass unchanged."""
    seeds: dict[tuple, dict[str, set]] = defaultdict(lambda: defaultdict(set))
    for r in rows:
        if r["status"] == "ok" and r["method"] not in ("unpruned", FAST):
            method = "cswap" if r["method"] == FORCED else r["method"]
            seeds[(r["model"], r["sweep"], r["target"], r["repair"])][method].add(r["seed"])
    common = {k: set.intersection(*by.values()) for k, by in seeds.items()}
    return [r for r in rows if r["status"] != "ok" or r["method"] in ("unpruned", FAST)
            or r["seed"] in common[(r["model"], r["sweep"], r["target"], r["repair"])]]


def _versus_point(rows: list[dict], pts: dict, model: str, sweep: str, level: str, repair: str
                  ) -> tuple[dict | None, str, tuple[dict, str] | None]:
    """C-SWAP's point (:func:`_cswap_point`) and the best baseline's (highest mean over seeds,
    with its name) at one level."""
    c, note = _cswap_point(rows, model, sweep, level, repair)
    best = max(((p, key[3]) for key, p in pts.items()
                if key[:3] == (model, sweep, level) and key[4] == repair
                and key[3] not in CSWAP_RUNS),
               key=lambda pb: pb[0]["accuracy"], default=None)
    return c, note, best


def _diff_se(a: dict, b: dict) -> float | None:
    """Standard error of the difference of two means over seeds (None below two seeds each)."""
    if a["sd"] is None or b["sd"] is None:
        return None
    return (a["sd"] ** 2 / a["n"] + b["sd"] ** 2 / b["n"]) ** 0.5


def difference_table(rows: list[dict]) -> list[dict]:
    """Per model and sweep, every level: C-SWAP minus the best baseline (pp, both with the
    repair), with the number of seeds behind C-SWAP's mean."""
    pts = _mean_points(rows)
    stopped = {(r["model"], r["sweep"], str(r["target"])) for r in rows
               if r["method"] in CSWAP_RUNS and r["status"] == "not reached"}
    out = []
    for model in ALL_MODELS:
        for sweep in ("params", "macs"):
            levels = sorted({k[2] for k in pts if k[:2] == (model, sweep)}, key=float)
            row = {"model": model, "budget": sweep}
            for lv in levels:
                c, note, best = _versus_point(rows, pts, model, sweep, lv, REPAIRED)
                cell = "-"
                if c and best:
                    se = _diff_se(c, best[0])
                    cell = (f"{100 * (c['accuracy'] - best[0]['accuracy']):+.2f} ("
                            + (f"se {100 * se:.2f}, " if se is not None else "") + f"n={c['n']}")
                    cell += ", tol. off)" if note else ")"
                elif best:
                    # C-SWAP's run stopped short of the level, or no C-SWAP run asked for it
                    cell = "not reached" if (model, sweep, lv) in stopped else "not run"
                row[f"{100 * float(lv):.3g}%"] = cell
            if len(row) > 2:
                out.append(row)
    cols = list(dict.fromkeys(k for row in out for k in row))
    cols = cols[:2] + sorted(cols[2:], key=lambda c: float(c[:-1]))
    return [{c: row.get(c, "") for c in cols} for row in out]


def versus_table(rows: list[dict], sweep: str = "params",
                 levels: tuple[str, ...] = ("0.3", "0.5", "0.7")) -> list[dict]:
    """Per model and level: C-SWAP against the best baseline (highest mean over seeds), with the
    repair and without; for a seed where the tolerance stopped C-SWAP short, its tolerance-free run;
    the fraction each of the two really removed (mean over seeds; with the repair).
    ``sweep``: the budget (``params`` or ``macs``) whose levels are read."""
    pts = _mean_points(rows)
    unpruned = {r["model"]: f"{100 * float(r['accuracy']):.2f}" for r in rows
                if r["method"] == "unpruned" and r["status"] == "ok"}
    out = []
    for model in ALL_MODELS:
        for lv in levels:
            cells = {repair: _versus_point(rows, pts, model, sweep, lv, repair)
                     for repair in (REPAIRED, "none")}
            c, note, best = cells[REPAIRED]
            if c is None and best is None:
                continue
            cn, note_n, best_n = cells["none"]
            out.append({
                "model": f"{model} ({unpruned.get(model, '?')})", f"{sweep} removed": f"{float(lv):.0%}",
                "C-SWAP +repair": (_acc_cell(c) + note) if c else "-",
                "best baseline +repair": f"{_acc_cell(best[0])} ({best[1]})" if best else "-",
                "C-SWAP - best (pp)": (f"{100 * (c['accuracy'] - best[0]['accuracy']):+.2f}"
                                       if c and best else "-"),
                "se of the difference (pp)": (f"{100 * se:.2f}" if c and best
                                              and (se := _diff_se(c, best[0])) is not None else "-"),
                # units are indivisible: a method can overshoot its target (LeNet-5's conv
                # channels are 4-14% of its MACs each), so say what each really removed
                f"{sweep} really removed, C-SWAP / best (%)": (
                    f"{100 * c[f'{sweep}_removed']:.1f} / {100 * best[0][f'{sweep}_removed']:.1f}"
                    if c and best else "-"),
                "C-SWAP, no repair": (_acc_cell(cn) + note_n) if cn else "-",
                "best baseline, no repair": f"{_acc_cell(best_n[0])} ({best_n[1]})" if best_n else "-"})
    return out


def job_status(rows: list[dict], jobs: list[Job]) -> list[dict]:
    """Per job: rows present out of rows expected (every method, level and repair)."""
    have = {_key(r) for r in rows}
    out = []
    for j in jobs:
        n_eval = str(j.eval_images or 10000)
        want = [(j.model, j.sweep, _fmt_level(lv), m, r, str(j.seed), n_eval)
                for lv in j.levels for m in j.methods for r in REPAIRS]
        done = sum(k in have for k in want)
        out.append({"model": j.model, "sweep": j.sweep, "seed": j.seed,
                    "levels": ",".join(_fmt_level(v) for v in j.levels), "test images": n_eval,
                    "rows": f"{done}/{len(want)}",
                    "state": "complete" if done == len(want) else "partial" if done else "not run"})
    return out


def timing_table(rows: list[dict]) -> list[dict]:
    """Seconds per (model, sweep, seed): the C-SWAP trajectory, and each baseline's scoring."""
    out: dict[tuple, dict] = {}
    for r in rows:
        if r["status"] != "ok" and r["status"] != "not reached" or not r["plan_s"]:
            continue
        row = out.setdefault((r["model"], r["sweep"], r["seed"]),
                             {"model": r["model"], "sweep": r["sweep"], "seed": r["seed"]})
        row[r["method"]] = f"{float(r['plan_s']):.1f}"
    cols = list(dict.fromkeys(k for row in out.values() for k in row))
    return [{c: row.get(c, "") for c in cols} for row in out.values()]


def write_reports(rows: list[dict], out_dir: Path, stem: str, command: str, seconds: float,
                  jobs: list[Job], plot_stem: str | None = None) -> list[Path]:
    """The markdown ``STEM.md`` and one PNG per model, sweep and repair, named
    ``PLOT_STEM_MODEL_...png`` (default ``stem``; zoo names already carry their dataset)."""
    states = job_status(rows, jobs)
    paired = paired_rows(rows)
    versus = versus_table(paired)
    versus_macs = versus_table(paired, "macs")
    diffs = difference_table(paired)
    partial = any(s["state"] != "complete" for s in states)
    md = [f"# Pruning trade-off (no fine-tuning){' - quick smoke run, not for quoting' if 'quick' in stem else ''}",
          "", f"Machine: {machine()}. " + (f"Wall time of this invocation: {seconds:.0f} s (a resumed "
                                              "run counts only the rows it computed)." if seconds
                                              else "Markdown and plots rewritten from the CSV."), "",
          "Methods: C-SWAP (default `CswapSettings` with "
          + ", ".join(f"`{k}={v!r}`" for k, v in PLANNER.items())
          + ": every unit re-ablated at every re-score and each unit ranked by its mean harm, the "
          "defaults before lazy re-scoring and the harm's upper bound, so that every row comes "
          "from one planner (the package's defaults now are measured against it in "
          "`cswap_ablation_*.md`); one progressive run per model, sweep and seed, "
          "stopped at every level; `cswap_notol`: the same with the tolerance off, where the default "
          "stopped short; `cswap_fast`: its fast mode, `CswapSettings(screen=True)`, where it was run) "
          "and every baseline of `pruning.baselines.BASELINES`, each "
          "finalized with the pruner's default training-free repair (`+repair`: every reader of "
          "removed units re-solved by least squares to give its original outputs on the "
          "calibration images) and without it. "
          f"Named baseline: global {NAMED_BASELINE} with the same repair. Calibration: 20 training "
          "images per class, drawn with the seed; cells with ± are mean ± sd over seeds.",
          "", "## Jobs" + (" (PARTIAL: some jobs did not run to the end)" if partial else ""), "",
          markdown_table(states), "",
          "## Headline: test accuracy (%) at 30 / 50 / 70% of parameters removed", "",
          headline_table(rows), "",
          "## C-SWAP against the best baseline at each level (mean ± sd over seeds where more than "
          "one ran), parameters budget", "",
          "Both sides over the same seeds: the seeds that C-SWAP and every baseline have run at that "
          "level (a seed still running is left out of this table and the next two).", "", markdown_table(versus) if versus else "(no rows yet)", "",
          "## The same under a MACs budget", "",
          markdown_table(versus_macs) if versus_macs else "(no rows yet)", "",
          "## C-SWAP minus the best baseline at every level, both with the repair (pp; n = seeds; "
          "tol. off: the tolerance-free run stands in for at least one seed)", "",
          markdown_table(diffs) if diffs else "(no rows yet)", "",
          "## Every point", "", summary_tables(rows)]
    timing = timing_table(rows)
    if timing:
        md += ["## Seconds: C-SWAP's whole progressive run, each baseline's scoring (once for every "
               "level)", "", markdown_table(timing), ""]
    md += [f"Command: `{command}`", ""]
    files = [atomic_write_text(out_dir / f"{stem}.md", "\n".join(md))]
    files += plots(rows, out_dir, plot_stem or stem)
    return files


# ---- entry points ----------------------------------------------------------------------------
