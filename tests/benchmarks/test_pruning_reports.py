"""The pruning benchmarks' report builders on hand-made rows (no model runs)."""

from benchmarks import cswap_ablation, latency_alignment
from benchmarks import pruning_tradeoff as pt


def _row(method, target, acc, seed="0", repair="lsq", status="ok", sweep="params"):
    return {"model": "lenet5", "sweep": sweep, "target": target, "method": method, "repair": repair,
            "seed": seed, "eval_images": "10000", "status": status, "accuracy": str(acc),
            "params": "1", "macs": "1", "params_removed": target, "macs_removed": target,
            "latency_b1_ms": "", "latency_b64_ms": "", "plan_s": "", "note": ""}


def test_versus_table_picks_the_best_baseline_and_falls_back_to_the_tolerance_free_run():
    rows = [{**_row("unpruned", "0", 0.99), "sweep": "-", "repair": "-", "seed": "-"},
            _row("cswap", "0.5", 0.97), _row("cswap", "0.5", 0.98, seed="1"),
            _row("l1", "0.5", 0.96), _row("lamp", "0.5", 0.985),
            _row("cswap", "0.7", "", status="not reached"), _row("cswap_notol", "0.7", 0.90),
            _row("cswap", "0.7", 0.94, seed="1"), _row("cswap_notol", "0.7", 0.99, seed="1"),
            _row("lamp", "0.7", 0.95),
            _row("cswap", "0.5", 0.5, repair="none"), _row("l1", "0.5", 0.6, repair="none")]
    table = {r["params removed"]: r for r in pt.versus_table(rows)}
    assert table["50%"]["C-SWAP +repair"].startswith("97.50 ± 0.71 (n=2)")
    assert table["50%"]["best baseline +repair"] == "98.50 (lamp)"
    assert table["50%"]["C-SWAP - best (pp)"] == "-1.00"
    assert table["50%"]["best baseline, no repair"] == "60.00 (l1)"
    # per seed: the default where it reached the level, the tolerance-free run where it did not
    assert table["70%"]["C-SWAP +repair"] == "92.00 ± 2.83 (n=2) (tolerance off in 1 of 2)"
    assert "30%" not in table
    # what each really removed, C-SWAP's mean over the runs that stand for it
    assert table["50%"]["params really removed, C-SWAP / best (%)"] == "50.0 / 50.0"
    over = [{**r, "params_removed": "0.62"} if r["method"] == "cswap_notol" else r for r in rows]
    assert {r["params removed"]: r for r in pt.versus_table(over)}["70%"][
        "params really removed, C-SWAP / best (%)"] == "66.0 / 70.0"


def test_difference_table_has_every_level_of_each_sweep():
    rows = [_row("cswap", "0.5", 0.97), _row("cswap", "0.5", 0.98, seed="1"), _row("lamp", "0.5", 0.985),
            _row("l1", "0.5", 0.96), _row("cswap", "0.1", 0.99), _row("l1", "0.1", 0.985),
            _row("cswap", "0.8", "", status="not reached"), _row("l1", "0.8", 0.9),
            _row("l1", "0.7", 0.92),   # a baseline-only level: C-SWAP did not run it
            _row("cswap", "0.3", 0.99, sweep="macs"), _row("l1", "0.3", 0.98, sweep="macs"),
            _row("cswap", "0.3", 0.5, sweep="macs", repair="none")]
    table = pt.difference_table(rows)
    assert [(r["model"], r["budget"]) for r in table] == [("lenet5", "params"), ("lenet5", "macs")]
    params, macs = table
    assert list(params)[2:] == ["10%", "30%", "50%", "70%", "80%"]
    assert params["10%"] == "+0.50 (n=1)" and params["50%"] == "-1.00 (n=2)"
    assert params["80%"] == "not reached" and params["70%"] == "not run" and params["30%"] == ""
    assert macs["30%"] == "+1.00 (n=1)" and macs["10%"] == ""


def test_merged_ablation_rows_keep_the_order_and_replace_reruns(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("planner,lsq_50\nA,1\nB,2\n")
    rows = cswap_ablation._merged(path, [{"planner": "B", "lsq_50": 3}, {"planner": "C", "lsq_50": 4}],
                                  ["A", "C", "B"])
    assert [(r["planner"], str(r["lsq_50"])) for r in rows] == [("A", "1"), ("C", "4"), ("B", "3")]


def test_ablation_rows_of_a_run_at_more_levels_join_the_old_ones(tmp_path):
    from benchmarks import cswap_ablation

    path = tmp_path / "a.csv"
    path.write_text("planner,rescore,bias+bn_30,lsq_30,plan_s,stopped\nA,lazy,80,90,1,target reached\n")
    new = {"planner": "B", "rescore": "lazy", "bias+bn_30": 81, "bias+bn_80": 20, "lsq_30": 91,
           "lsq_80": 70, "plan_s": 2, "stopped": "target reached"}
    rows = cswap_ablation._merged(path, [new], ["A", "B"])
    assert list(rows[0]) == ["planner", "rescore", "bias+bn_30", "bias+bn_80", "lsq_30", "lsq_80",
                             "plan_s", "stopped"]
    assert (rows[0]["lsq_30"], rows[0]["lsq_80"], rows[1]["lsq_80"]) == ("90", "not run", 70)


def test_latency_report_counts_the_rows_within_the_bar(tmp_path):
    base = {"model": "resnet20", "accuracy": 99.0, "params_removed": 0.5, "macs_removed": 0.4,
            "latency_b1_ms": 1.0, "latency_b64_ms": 10.0, "plan_s": 1.0, "stopped": "target reached"}
    rows = [{**base, "method": "unpruned", "round_to": "-", "macs_ratio": 1.0, "speedup_b64": 1.0,
             "macs_ratio_over_speedup": 1.0},
            {**base, "method": "cswap", "round_to": 16, "macs_ratio": 1.6, "speedup_b64": 1.4,
             "macs_ratio_over_speedup": 1.6 / 1.4},
            {**base, "method": "l1", "round_to": "none", "macs_ratio": 2.0, "speedup_b64": 1.0,
             "macs_ratio_over_speedup": 2.0}]
    md = latency_alignment.report(rows, 0.5, None)
    assert "Rows meeting the bar: 1 of 2 (resnet20 cswap round_to=16)" in md
    latency_alignment.plot(rows, tmp_path / "p.png")
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_paired_rows_compare_cswap_and_baselines_on_the_seeds_both_ran():
    from benchmarks._tradeoff_report import paired_rows

    rows = [{**_row("unpruned", "0", 0.99), "sweep": "-", "repair": "-", "seed": "-"},
            _row("cswap", "0.5", 0.90), _row("cswap", "0.5", 0.80, seed="1"),   # seed 1: C-SWAP only
            _row("lamp", "0.5", 0.95), _row("l1", "0.5", 0.94), _row("l1", "0.5", 0.70, seed="1"),
            _row("cswap", "0.7", "", status="not reached"), _row("cswap_notol", "0.7", 0.85),
            _row("lamp", "0.7", 0.88)]
    kept = paired_rows(rows)
    assert {(r["method"], r["target"], r["seed"]) for r in kept if r["status"] == "ok"} == {
        ("unpruned", "0", "-"), ("cswap", "0.5", "0"), ("lamp", "0.5", "0"), ("l1", "0.5", "0"),
        ("cswap_notol", "0.7", "0"), ("lamp", "0.7", "0")}
    assert any(r["status"] == "not reached" for r in kept)   # other rows pass unchanged
    table = {r["params removed"]: r for r in pt.versus_table(kept)}
    assert table["50%"]["C-SWAP - best (pp)"] == "-5.00"       # seed 0 against seed 0 only
    unpaired = {r["params removed"]: r for r in pt.versus_table(rows)}
    assert unpaired["50%"]["C-SWAP - best (pp)"] == "-10.00"   # seeds 0+1 against seed 0


def test_cswap_fast_is_neither_a_baseline_nor_a_pairing_constraint():
    from benchmarks._tradeoff_report import paired_rows

    rows = [{**_row("unpruned", "0", 0.99), "sweep": "-", "repair": "-", "seed": "-"},
            _row("cswap", "0.5", 0.90), _row("lamp", "0.5", 0.85),
            _row("cswap_fast", "0.5", 0.97, seed="1")]          # better, and on another seed
    kept = paired_rows(rows)
    assert {(r["method"], r["seed"]) for r in kept if r["status"] == "ok"} == {
        ("unpruned", "-"), ("cswap", "0"), ("lamp", "0"), ("cswap_fast", "1")}
    table = {r["params removed"]: r for r in pt.versus_table(kept)}
    assert table["50%"]["C-SWAP - best (pp)"] == "+5.00"     # against lamp, not the fast mode


def test_cswap_vs_best_pairs_seeds_and_falls_back_to_the_ablation_baselines(tmp_path):
    from benchmarks import cswap_vs_best as vs
    from benchmarks._common import write_csv

    def ablation(name, *rows):
        write_csv(name, [{"planner": p, "rescore": "lazy", "lsq_30": a, "lsq_50": b, "plan_s": 1, "stopped": st}
                         for p, a, b, st in rows], tmp_path)
    lamp = ("baseline: LAMP (same repair)", 90.0, 80.0, "target reached")
    default, forced = vs.PLANNERS["default"].row, vs.PLANNERS["default"].forced
    ablation("cswap_ablation_fashion_lenet5.csv", lamp, (default, 91.0, 82.0, "target reached"))
    # seed 1: the default stopped before 50%, its tolerance-free row stands in there
    ablation("cswap_ablation_fashion_lenet5_seed1.csv", lamp,
             (default, 90.5, "not reached", "tolerance: stopped at 40.0%"), (forced, 90.4, 79.0, "target reached"))
    # the trade-off has seed 0 only: LAMP's seed 1 comes from the ablation, l1 lacks it and is left out
    trade = [{"model": "fashion_lenet5", "sweep": "params", "target": t, "method": m, "repair": "lsq",
              "seed": "0", "status": "ok", "accuracy": a}
             for t, m, a in (("0.3", "lamp", 0.90), ("0.5", "lamp", 0.80), ("0.3", "l1", 0.995),
                             ("0.5", "cswap", 0.10))]
    write_csv("pruning_tradeoff_fashion.csv", trade, tmp_path)
    assert vs.main(["--results", str(tmp_path)]) == 0
    rows = {r["level"]: r for r in vs.read_csv(tmp_path / "cswap_vs_best_fashion.csv")}
    assert rows["30%"]["best baseline"] == "lamp" and rows["30%"]["cswap - best"] == 0.75
    assert rows["30%"]["per seed"] == "+1.00 / +0.50" and rows["30%"]["verdict"] == "win"
    assert rows["50%"]["tolerance off in"] == 1 and rows["50%"]["cswap - best"] == 0.5
    assert rows["50%"]["verdict"] == "tie"   # +2.00 / -1.00: se 1.5
    assert "stopped at 40.0%" in (tmp_path / "cswap_vs_best_fashion.md").read_text()
    ran = vs.levels_run(vs.ablation_files(tmp_path, ("fashion_lenet5",)))
    assert ran == {("fashion_lenet5", "params"): {"30%", "50%"}}
    # a level only other rows ran at (here LAMP at 70%) is not run for the planner
    write_csv("cswap_ablation_fashion_lenet5_seed2.csv",
              [{"planner": lamp[0], "rescore": "-", "lsq_30": 90.0, "lsq_50": 80.0, "lsq_70": 70.0,
                "plan_s": 1, "stopped": "target reached"},
               {"planner": default, "rescore": "lazy", "lsq_30": 90.0, "lsq_50": "not reached",
                "lsq_70": "not run", "plan_s": 1, "stopped": "tolerance: stopped at 40.0%"}], tmp_path)
    assert vs.levels_run(vs.ablation_files(tmp_path, ("fashion_lenet5",))) == ran
    (tmp_path / "cswap_ablation_fashion_lenet5_seed2.csv").unlink()
    later = {**rows["50%"], "level": "70%"}
    glance = vs.at_a_glance([*rows.values(), later, {**later, "budget": "macs"}], ("fashion_lenet5",),
                            {**ran, ("fashion_lenet5", "macs"): {"30%", "70%"}})
    assert glance == [{"model": "fashion_lenet5", "budget": "params", "30%": "+0.75 win (lamp; se 0.25, n=2)",
                       "50%": "+0.50 tie (lamp; se 1.5, n=2, tol. off 1)", "70%": "+0.50 tie (lamp; se 1.5, n=2, "
                       "tol. off 1)"},
                      {"model": "fashion_lenet5", "budget": "macs", "30%": "not reached", "50%": "not run",
                       "70%": "+0.50 tie (lamp; se 1.5, n=2, tol. off 1)"}]


def test_cswap_vs_best_upper1_stands_in_its_own_tolerance_free_row(tmp_path):
    from benchmarks import cswap_vs_best as vs
    from benchmarks._common import write_csv

    default, upper1 = vs.PLANNERS["default"], vs.PLANNERS["upper1"]
    rows = [("baseline: LAMP (same repair)", 90.0, 80.0, "target reached"),
            (default.row, 95.0, 95.0, "target reached"),
            (default.forced, 95.0, 95.0, "target reached"),
            (upper1.row, 91.0, "not reached", "tolerance: stopped at 40.0%"),
            (upper1.forced, 91.0, 81.0, "target reached")]
    write_csv("cswap_ablation_fashion_lenet5.csv",
              [{"planner": p, "rescore": "lazy", "lsq_30": a, "lsq_50": b, "plan_s": 1, "stopped": st}
               for p, a, b, st in rows], tmp_path)
    write_csv("pruning_tradeoff_fashion.csv", [{"model": "fashion_lenet5", "sweep": "params", "target": "0.3",
                                                "method": "l1", "repair": "lsq", "seed": "0", "status": "ok",
                                                "accuracy": 0.5}], tmp_path)
    assert vs.main(["--results", str(tmp_path), "--planner", "upper1"]) == 0
    got = {r["level"]: r for r in vs.read_csv(tmp_path / "cswap_vs_best_fashion_upper1.csv")}
    assert (got["30%"]["cswap"], got["50%"]["cswap"], got["50%"]["tolerance off in"]) == (91.0, 81.0, 1)


def test_each_planner_names_ablation_rows_and_its_only_texts_run_exactly_them():
    import shlex

    from benchmarks import cswap_ablation as ab
    from benchmarks import cswap_vs_best as vs

    labels = [label for label, _ in ab.STEPS + ab.VARIANTS]
    for name, planner in vs.PLANNERS.items():
        texts = shlex.split(planner.only)
        picked = {label for label in labels if any(t in label for t in texts)}
        assert picked == {planner.row, planner.forced}, name


def test_ablation_file_stems_read_back_as_written():
    from benchmarks.cswap_ablation import STEM, result_stem

    for model, budget, seed in (("fashion_resnet20", "macs", 2), ("fashion_vit_tiny", "params", 0),
                                ("lenet5", "params", 1)):
        m = STEM.fullmatch(result_stem(model, budget, seed))
        assert (m["model"], "macs" if m["macs"] else "params", int(m["seed"] or 0)) == (model, budget, seed)
    assert result_stem("lenet5", quick=True) == "cswap_ablation_quick"


def test_cswap_vs_best_says_what_to_run_when_nothing_is_there(tmp_path, capsys):
    from benchmarks import cswap_vs_best as vs

    assert vs.main(["--results", str(tmp_path)]) == 2
    assert "pruning_tradeoff.py --data fashion" in capsys.readouterr().err


def test_latency_rows_of_models_not_rerun_are_kept(tmp_path):
    from benchmarks._common import write_csv

    old = [{"model": m, "method": meth, "round_to": "none", "speedup_b64": v}
           for m, meth, v in (("fashion_resnet20", "unpruned", 1.0), ("fashion_resnet20", "l1", 1.5),
                              ("fashion_resnet56", "unpruned", 1.0), ("fashion_resnet56", "l1", 1.7))]
    path = write_csv("latency.csv", old, tmp_path)
    new = [{"model": "fashion_resnet20", "method": m, "round_to": "none", "speedup_b64": v}
           for m, v in (("unpruned", 1.0), ("cswap", 1.6))]
    rows, note = latency_alignment.with_earlier_rows(new, path)
    assert [(r["model"], r["method"]) for r in rows] == [
        ("fashion_resnet20", "unpruned"), ("fashion_resnet20", "cswap"),
        ("fashion_resnet56", "unpruned"), ("fashion_resnet56", "l1")]
    assert "fashion_resnet56 are kept" in note
    assert latency_alignment.with_earlier_rows(new, tmp_path / "none.csv") == (new, "")
