"""C-SWAP planner and the prune() entry point, end to end on the zoo LeNet (seconds)."""

import pytest
import torch

from causalnet.builder import build_graph
from causalnet.cli import main
from causalnet.data import load_data
from causalnet.errors import CausalnetInputError, ModelMismatchError
from causalnet.evaluate import accuracy, count_macs_params
from causalnet.zoo import load_zoo_model
from pruning.api import prune
from pruning.io import load_pruned, save_pruned

from ..causalnet.toy import hand_wired, hand_wired_data


@pytest.fixture(scope="module")
def lenet():
    return load_zoo_model("lenet5")


@pytest.fixture(scope="module")
def mnist():
    return load_data("mnist")


def test_cswap_reaches_the_target_and_replays(lenet, mnist, tmp_path):
    pruned, plan, info = prune(lenet, mnist, target_params=0.3, calibration_per_class=6, chunk=0.1)
    _, p0 = count_macs_params(lenet, (1, 28, 28))
    _, p1 = count_macs_params(pruned, (1, 28, 28))
    assert 1 - p1 / p0 >= 0.3
    assert info["stopped"] == "target reached"
    x = mnist.eval.images[:300]
    acc = accuracy(pruned, (x, mnist.eval.targets[:300]))
    assert acc > 0.95
    save_pruned(pruned, plan, tmp_path, {"note": "test"})
    replayed = load_pruned(load_zoo_model("lenet5"), tmp_path)
    with torch.inference_mode():
        assert torch.equal(replayed(x), pruned(x))
    assert all(layer in plan["removal"] for layer in plan["removal"])
    for layer, removed in plan["removal"].items():
        assert len(removed) < {"conv1": 6, "conv2": 16, "fc1": 120, "fc2": 84}[layer]


def test_round_to_keeps_whole_blocks_and_still_reaches_the_target(lenet, mnist):
    # SIMD-friendly widths: every pruned layer keeps a multiple of 4 units (conv1's 6 can only go
    # to 4); a planner that trims unit chunks to blocks would stall with nothing to remove
    pruned, plan, info = prune(lenet, mnist, target_params=0.4, calibration_per_class=6, chunk=0.1,
                               round_to=4, repair=())
    assert info["stopped"] == "target reached"
    sizes = {"conv1": 6, "conv2": 16, "fc1": 120, "fc2": 84}
    assert plan["removal"]
    for layer, removed in plan["removal"].items():
        kept = sizes[layer] - len(removed)
        assert kept >= 4 and kept % 4 == 0, (layer, kept)
    _, p0 = count_macs_params(lenet, (1, 28, 28))
    _, p1 = count_macs_params(pruned, (1, 28, 28))
    assert 1 - p1 / p0 >= 0.4


def test_tolerance_stops_the_pruner(lenet, mnist):
    pruned, plan, info = prune(lenet, mnist, target_params=0.95, max_drop=0.0,
                               calibration_per_class=6, chunk=0.2)
    assert info["stopped"].startswith("tolerance") or info["stopped"].startswith("no removable")
    assert info["calibration_accuracy"] >= info["base_calibration_accuracy"]


@pytest.mark.parametrize("kwargs,needle", [
    ({"target_params": 0.0}, "strictly between 0 and 1"),
    ({"target_params": 1.0}, "strictly between 0 and 1"),
    ({"target_params": 0.5, "max_drop": -1}, "cannot be negative"),
    ({"target_params": 0.5, "target_macs": 0.5}, "exactly one target"),
    ({"target_params": 0.5, "method": "magic"}, "unknown method"),
])
def test_bad_settings_are_refused(lenet, mnist, kwargs, needle):
    with pytest.raises(CausalnetInputError, match=needle):
        prune(lenet, mnist, **kwargs)


def test_graph_of_another_model_is_refused(lenet, mnist, tmp_path, capsys):
    graph = build_graph(hand_wired(), hand_wired_data(20), samples_per_class=10,
                        calibration_per_class=5)
    with pytest.raises(ModelMismatchError):
        prune(lenet, mnist, graph=graph, target_params=0.3)
    graph.save(tmp_path / "other.json")
    code = main(["prune", "--model", "zoo:lenet5", "--graph", str(tmp_path / "other.json"),
                 "--data", "mnist", "--target-params", "0.3", "--out", str(tmp_path / "o"), "-q"])
    assert code == 2
    assert "another model" in capsys.readouterr().err


def test_round_to_auto_is_the_cpu_vector_width_and_bad_values_are_refused(capsys):
    from pruning.cli import _round_to
    from pruning.report import cpu_vector_width

    assert _round_to("auto") == cpu_vector_width() in (4, 8, 16)
    assert _round_to("8") == 8
    with pytest.raises(SystemExit):
        main(["prune", "--model", "zoo:lenet5", "--target-params", "0.3", "--round-to", "0",
              "--out", "unused", "--method", "l1"])
    assert "positive integer or 'auto'" in capsys.readouterr().err


@pytest.mark.parametrize("objective", ["loglik", "kl"])
def test_milestones_give_nested_plans_at_each_level(lenet, mnist, objective):
    from pruning.costs import removal_cost, unit_costs
    from pruning.cswap import CswapPlanner, CswapSettings

    settings = CswapSettings(target_params=0.3, calibration_per_class=4, chunk=0.1, objective=objective)
    result = CswapPlanner(lenet, None, settings).plan(mnist, milestones=(0.1, 0.2))
    assert sorted(result.snapshots) == [0.1, 0.2, 0.3]
    costs = unit_costs(lenet, _units(lenet), mnist.eval.images[:1])
    previous: dict = {}
    for level in (0.1, 0.2, 0.3):
        removal = result.snapshots[level]
        done = removal_cost(costs, {k: len(v) for k, v in removal.items()})[0] / costs.params
        assert level <= done < level + 0.1
        assert all(set(v) <= set(removal.get(k, ())) for k, v in previous.items())
        previous = removal
    assert result.snapshots[0.3] == result.removal


def _units(model):
    from causalnet.units import discover_units

    return discover_units(model, torch.zeros(1, 1, 28, 28))


def test_ablation_switches_run_and_bad_values_are_refused(lenet, mnist):
    from pruning.cswap import CswapPlanner, CswapSettings

    naive = CswapSettings(target_params=0.2, calibration_per_class=4, chunk=0.1, rank_by="harm").replace(
        scoring_ablation="zero", bn_between_chunks=False, joint_check=False)
    assert not naive.ingredients.joint_check and naive.ingredients.scoring_ablation == "zero"
    result = CswapPlanner(lenet, None, naive).plan(mnist)
    assert result.stopped == "target reached" and all(h["committed"] for h in result.history)
    for bad in ({"scoring_ablation": "half"}, {"objective": "accuracy"}):
        with pytest.raises(CausalnetInputError):
            CswapSettings(target_params=0.2).replace(**bad).validate()


def test_layer_budgets_keep_more_of_the_layers_that_serve_more_class_graphs():
    import networkx as nx
    import numpy as np

    from causalnet.graph import CausalGraph
    from pruning.cswap import layer_budgets

    g = nx.DiGraph(class_graphs={str(c): {} for c in range(10)})
    graph = CausalGraph.__new__(CausalGraph)
    graph.nx = g
    costs = {"busy": {"size": 10, "params_total": 100}, "idle": {"size": 10, "params_total": 100}}
    members = {"busy": np.full(10, 8), "idle": np.zeros(10, int)}
    caps = layer_budgets(graph, members, costs, "params", 0.4)
    assert caps["busy"] < caps["idle"] <= 9
    caps = layer_budgets(graph, members, costs, "params", 0.9)
    assert caps["idle"] == 9                     # never more than the ceiling (95%)


@pytest.mark.parametrize("change", [{"budgets": "graph"}, {"tie_break": "magnitude"}])
def test_budget_and_tie_break_ingredients_plan_to_the_target(lenet, mnist, change):
    from pruning.cswap import CswapPlanner, CswapSettings

    graph = build_graph(lenet, mnist, samples_per_class=20, calibration_per_class=4, classes=[0, 1])
    settings = CswapSettings(target_params=0.2, calibration_per_class=4, chunk=0.1).replace(**change)
    planner = CswapPlanner(lenet, graph, settings)
    result = planner.plan(mnist)
    assert result.stopped == "target reached" and result.removed_fraction >= 0.2
    if "budgets" in change:   # at 20% the caps (1.25x each layer's share) are never all used up
        assert planner._caps is not None
        assert all(len(v) <= planner._caps[k] for k, v in result.removal.items())
    for bad in ({"budgets": "even"}, {"tie_break": "l2"}):
        with pytest.raises(CausalnetInputError):
            CswapSettings(target_params=0.2).replace(**bad).validate()


def test_repair_in_loop_lsq_plans_to_the_target(lenet, mnist):
    from pruning.cswap import CswapPlanner, CswapSettings

    settings = CswapSettings(target_params=0.3, calibration_per_class=4, chunk=0.1).replace(repair_in_loop="lsq")
    result = CswapPlanner(lenet, None, settings).plan(mnist)
    assert result.stopped == "target reached" and result.removed_fraction >= 0.3
    with pytest.raises(CausalnetInputError):
        CswapSettings(target_params=0.2).replace(repair_in_loop="ridge").validate()


def test_the_repaired_judge_sees_the_net_the_lsq_repair_gives(lenet, mnist):
    from causalnet.data import calibration_set
    from pruning.cswap import CswapPlanner, CswapSettings
    from pruning.repair import finalize

    # tolerance off, so the last chunk is committed: its judged accuracy is the plan's own (the
    # harm at one standard error: a plan whose masked and repaired nets differ on these images)
    settings = CswapSettings(target_params=0.9, calibration_per_class=4, chunk=0.1, max_drop=100.0,
                             check_per_class=10).replace(judge="repaired", harm_z=1.0)
    planner = CswapPlanner(lenet, None, settings)
    result = planner.plan(mnist)
    x_cal, y_cal = calibration_set(mnist.fit, 4, seed=0)
    x_chk, y_chk = planner._check_set(mnist, x_cal, y_cal)
    check = (x_chk[40:], y_chk[40:])   # the images the least squares were not solved on
    assert abs(result.base_calibration_accuracy - 100 * accuracy(lenet, check)) < 1e-6
    pruned, _ = finalize(lenet, result.removal, x_cal, ("lsq",), x_cal[:1])
    repaired = 100 * accuracy(pruned, check)
    masked = CswapPlanner(lenet, None, settings.replace(judge="masked")).plan(mnist)
    assert result.history[-1]["committed"] and result.removal == masked.removal   # the same ranking
    assert abs(result.history[-1]["calibration_accuracy"] - repaired) < 1e-6
    assert abs(masked.history[-1]["calibration_accuracy"] - repaired) > 1      # it judged another net
    with pytest.raises(CausalnetInputError, match="judge"):
        settings.replace(judge="pruned").validate()


def test_refit_scores_are_fitted_off_the_scoring_images_and_plan_to_the_target(lenet, mnist, monkeypatch):
    from causalnet.interventions import InterventionEngine
    from pruning.cswap import CswapPlanner, CswapSettings

    fitted = []
    init = InterventionEngine.__init__

    def spy(self, model, units, x, *, reference=None, **kw):
        fitted.append((len(x), None if reference is None else len(reference)))
        init(self, model, units, x, reference=reference, **kw)
    monkeypatch.setattr(InterventionEngine, "__init__", spy)
    settings = CswapSettings(target_params=0.3, calibration_per_class=6, score_per_class=2,
                             chunk=0.1).replace(scoring_ablation="refit")
    result = CswapPlanner(lenet, None, settings).plan(mnist)
    assert result.stopped == "target reached" and result.removed_fraction >= 0.3
    # scored on 2 images per class, re-solved on the other 4
    assert fitted and all(f == (20, 40) for f in fitted)


def test_default_tolerance_is_at_least_one_calibration_image():
    from pruning.cswap import auto_tolerance, tolerance_note

    assert auto_tolerance(200) == 1.0
    assert auto_tolerance(60) == pytest.approx(100 / 60)
    assert tolerance_note(1.0, 60).startswith("; one of the 60 calibration images is 1.67 points")
    assert tolerance_note(auto_tolerance(60), 60) == ""


def test_prune_that_stops_short_exits_3_and_says_what_to_change(tmp_path, capsys):
    from pathlib import Path

    graph = Path(__file__).resolve().parents[2] / "benchmarks/results/graphs/lenet5.json"
    out = tmp_path / "short"
    code = main(["prune", "--model", "zoo:lenet5", "--graph", str(graph), "--data", "mnist",
                 "--target-params", "0.95", "--max-drop", "0", "--calibration", "3", "--out", str(out),
                 "-q"])
    err = capsys.readouterr().err
    assert code == 3
    assert "the target was not reached" in err and "of the 95% asked" in err
    assert "one of the 30 calibration images is 3.33 points" in err and "--max-drop" in err
    assert (out / "plan.json").is_file()   # the work done is kept
    import json
    assert json.loads((out / "report.json").read_text())["target_reached"] is False


def test_fast_mode_covering_every_unit_is_the_exact_plan(lenet, mnist):
    # screening that keeps every unit for the exact scores must change nothing
    from pruning.cswap import CswapPlanner, CswapSettings

    plans = [CswapPlanner(lenet, None, CswapSettings(target_params=0.3, calibration_per_class=6, chunk=0.1,
                                                      screen=screen, screen_cover=1e9)).plan(mnist)
             for screen in (False, True)]
    assert plans[0].removal == plans[1].removal
    assert plans[0].exact_scores == plans[1].exact_scores > 0


def test_lazy_rescoring_covering_every_unit_is_the_exact_plan(lenet, mnist):
    # lazy re-scoring that re-ablates every unit each time must change nothing; with the default
    # cover it ablates fewer units and still reaches the target
    from pruning.cswap import CswapPlanner, CswapSettings

    base = CswapSettings(target_params=0.3, calibration_per_class=6, chunk=0.1)
    assert base.ingredients.rescore == "lazy"   # the default
    full = CswapPlanner(lenet, None, base.replace(rescore="full")).plan(mnist)
    covered = CswapPlanner(lenet, None, base.replace(rescore="lazy", screen_cover=1e9)).plan(mnist)
    assert covered.removal == full.removal and covered.exact_scores == full.exact_scores > 0
    lazy = CswapPlanner(lenet, None, base.replace(rescore="lazy")).plan(mnist)
    assert lazy.stopped == "target reached" and lazy.exact_scores < full.exact_scores
    with pytest.raises(CausalnetInputError, match="rescore"):
        base.replace(rescore="sometimes").validate()


def test_fast_mode_ablates_fewer_units_and_reaches_the_target(lenet, mnist):
    x, y = mnist.eval.images[:500], mnist.eval.targets[:500]
    runs = {screen: prune(lenet, mnist, target_params=0.4, calibration_per_class=6, chunk=0.05, screen=screen)
            for screen in (False, True)}
    assert runs[True][2]["stopped"] == "target reached"
    assert runs[True][2]["exact_scores"] < 0.6 * runs[False][2]["exact_scores"]
    # the screened plan stays close to the exact one (the zoo LeNet-5: 97.2% both ways on 2000 images)
    assert accuracy(runs[True][0], (x, y)) > accuracy(runs[False][0], (x, y)) - 0.02
    with pytest.raises(CausalnetInputError, match="screen_cover"):
        from pruning.cswap import CswapSettings
        CswapSettings(screen=True, screen_cover=0.5).validate()


def test_a_passed_over_unit_leaves_no_empty_item_in_the_order():
    # a layer of 5 units, 1 removed, 2 passed over (not candidates): the 2 left are harmful to
    # remove, and the single-item chunk must be one of them, not an empty block (which ranks
    # at harm 0, first, and stopped the plan as if nothing could go)
    import numpy as np

    from pruning.cswap import CswapPlanner, CswapSettings

    planner = CswapPlanner(torch.nn.Linear(2, 2), None, CswapSettings())
    costs = {"fc": {"size": 5, "params_per_unit": 10, "params_curvature": 0, "coupled": {}}}
    scores = {"fc": np.array([np.nan, -0.5, -0.2, -0.9, -0.1])}          # all harmful
    chunk = planner._next_chunk(scores, {"fc": np.zeros(5)}, {"fc": [2, 3]}, {"fc": 1}, costs, 0.0)
    assert chunk == {"fc": [2]} and planner._chunk_items == 1


def test_a_unit_that_fails_alone_is_passed_over(monkeypatch):
    # rank the hand-wired class-0 unit first: removing it alone fails the tolerance; the planner
    # must pass over it and remove the dead units instead of stopping at nothing removed
    from causalnet.data import DataBundle, TensorImageDataset
    from pruning.cswap import CswapPlanner, CswapSettings

    fit = TensorImageDataset(*hand_wired_data(40, seed=0))
    bundle = DataBundle(spec="wired", fit=fit, eval=fit)
    real = CswapPlanner._score

    def first_is_critical(self, *args, **kwargs):
        scores = real(self, *args, **kwargs)
        for arr in scores.values():
            if arr.size == 6 and arr[0] == arr[0]:   # the hidden layer, unit 0 still alive
                arr[0] = 10.0                         # "removing it helps": first in the order
        return scores

    monkeypatch.setattr(CswapPlanner, "_score", first_is_critical)
    result = CswapPlanner(hand_wired(), None, CswapSettings(target_params=0.3, calibration_per_class=20,
                                                             max_drop=1.0, chunk=0.5)).plan(bundle)
    assert result.stopped == "target reached"
    removed = [u for units in result.removal.values() for u in units]
    assert removed and 0 not in removed
    assert any(not h["committed"] and h["units"] == 1 for h in result.history)   # it was tried


def test_upper_harm_bound_lets_a_costly_unit_of_certain_small_harm_go_before_a_noisy_cheap_one():
    # unit a0: removing it "helps" by 0.001, measured to +-0.1 (noise), 1 parameter; unit b0:
    # harm 0.02 measured to +-0.001, 100 parameters. By measured harm the noisy cheap unit goes
    # first (a harm below 0 ranks before any harm above it); with harm="upper" each harm is its
    # mean plus one standard error (0.099 per parameter vs 0.00021) and the costly unit goes first
    import numpy as np

    from pruning.cswap import CswapPlanner, CswapSettings

    costs = {"a": {"size": 2, "params_per_unit": 1, "params_curvature": 0, "coupled": {}},
             "b": {"size": 2, "params_per_unit": 100, "params_curvature": 0, "coupled": {}}}
    scores = {"a": np.array([0.001, -5.0]), "b": np.array([-0.02, -5.0])}
    se = {"a": np.array([0.10, 0.0]), "b": np.array([0.001, 0.0])}
    members = {"a": np.zeros(2), "b": np.zeros(2)}
    first = {}
    for harm in ("mean", "upper"):
        planner = CswapPlanner(torch.nn.Linear(2, 2), None, CswapSettings().replace(harm=harm))
        planner._se = se
        first[harm] = planner._next_chunk(scores, members, {"a": [0], "b": [0]}, {}, costs, 0.0)
    assert first == {"mean": {"a": [0]}, "upper": {"b": [0]}}
    with pytest.raises(CausalnetInputError, match="harm must be"):
        CswapSettings().replace(harm="lower").validate()


def test_harm_z_sets_how_many_standard_errors_the_upper_bound_adds():
    # a0: harm 0.01 measured to +-0.01; b0: harm 0.03 measured to +-0.001, same cost. At one
    # standard error a0 ranks first (0.02 < 0.031); at three, b0 does (0.033 < 0.04): the wider
    # bound gives a unit the images measured precisely the benefit of the doubt
    import numpy as np

    from pruning.cswap import CswapPlanner, CswapSettings

    costs = {n: {"size": 2, "params_per_unit": 1, "params_curvature": 0, "coupled": {}} for n in "ab"}
    scores = {"a": np.array([-0.01, -5.0]), "b": np.array([-0.03, -5.0])}
    se = {"a": np.array([0.01, 0.0]), "b": np.array([0.001, 0.0])}
    members = {"a": np.zeros(2), "b": np.zeros(2)}
    first = {}
    for z in (1.0, 3.0):
        planner = CswapPlanner(torch.nn.Linear(2, 2), None, CswapSettings().replace(harm="upper", harm_z=z))
        planner._se = se
        first[z] = planner._next_chunk(scores, members, {"a": [0], "b": [0]}, {}, costs, 0.0)
    assert first == {1.0: {"a": [0]}, 3.0: {"b": [0]}}
    with pytest.raises(CausalnetInputError, match="harm_z"):
        CswapSettings().replace(harm_z=-1.0).validate()


def test_the_tolerance_is_checked_on_images_apart_from_the_calibration(lenet, mnist):
    from causalnet.data import class_balanced_indices
    from pruning.cswap import CswapPlanner, CswapSettings

    settings = CswapSettings(target_params=0.2, calibration_per_class=4, chunk=0.1, check_per_class=30)
    planner = CswapPlanner(lenet, None, settings)
    from causalnet.data import calibration_set
    x_cal, y_cal = calibration_set(mnist.fit, 4, seed=0)
    x_chk, y_chk = planner._check_set(mnist, x_cal, y_cal)
    # the calibration images first, then 30 more of each class, none of them a calibration image
    assert len(y_chk) == 340 and torch.bincount(y_chk).tolist() == [34] * 10
    assert torch.equal(x_chk[:40], x_cal)
    cal = set(class_balanced_indices(mnist.fit.targets, 4, seed=0))
    assert not any(torch.equal(x_chk[i], mnist.fit[j][0]) for i in range(40, 340) for j in cal)
    # the tolerance: 1 point of 340 check images, not one image of the 40 calibration ones
    result = planner.plan(mnist)
    assert result.stopped == "target reached"
    assert abs(result.base_calibration_accuracy - 100 * accuracy(lenet, (x_chk, y_chk))) < 1e-6
    with pytest.raises(CausalnetInputError, match="pass the data bundle"):
        planner.plan(None, calibration=(x_cal, y_cal))
    with pytest.raises(CausalnetInputError, match="check_per_class"):
        settings.replace(check_per_class=0).validate()


def test_the_check_set_leaves_out_whatever_calibration_images_the_caller_passed(lenet, mnist):
    from causalnet.data import calibration_set
    from pruning.cswap import CswapPlanner, CswapSettings

    settings = CswapSettings(target_params=0.2, calibration_per_class=4, chunk=0.1, check_per_class=30)
    planner = CswapPlanner(lenet, None, settings)
    # a draw of the caller's own (seed 1's and not the settings' seed 0): the images the check
    # set would draw first (seed + 1) are exactly these, and none of them may come back
    x_own, y_own = calibration_set(mnist.fit, 4, seed=1)
    x_chk, y_chk = planner._check_set(mnist, x_own, y_own)
    assert torch.bincount(y_chk).tolist() == [34] * 10
    own = {row.numpy().tobytes() for row in x_own.flatten(1)}
    assert sum(row.numpy().tobytes() in own for row in x_chk[40:].flatten(1)) == 0


def test_stop_messages_name_the_images_the_tolerance_is_judged_on(lenet, mnist):
    from pruning.cswap import CswapPlanner, CswapSettings

    settings = CswapSettings(target_params=0.97, calibration_per_class=4, chunk=0.1, max_drop=0.0)
    plain = CswapPlanner(lenet, None, settings).plan(mnist)
    checked = CswapPlanner(lenet, None, settings.replace(check_per_class=10)).plan(mnist)
    assert "points of calibration accuracy" in plain.stopped
    assert "points of check accuracy" in checked.stopped and "of the 140 check images" in checked.stopped
    assert checked.outcome.endswith(f"stopped at {100 * checked.removed_fraction:.1f}% of params")


def test_check_images_of_zero_is_refused_before_any_work(capsys, tmp_path):
    code = main(["prune", "--model", "zoo:lenet5", "--target-params", "0.3", "--check-images", "0",
                 "--out", str(tmp_path / "out"), "--method", "l1"])
    assert code == 2 and "--check-images must be at least 1" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_ingredients_parse_by_their_field_types_and_bad_items_say_what_to_write():
    from pruning.cswap import CswapIngredients, parse_ingredients

    got = parse_ingredients(["harm_z=1", "judge=repaired", "joint_check=false"])
    assert got == CswapIngredients(harm_z=1.0, judge="repaired", joint_check=False)
    assert parse_ingredients([]) == CswapIngredients()
    for items, needle in ((["harm_z"], "use KEY=VALUE"), (["harmz=1"], "choose from"),
                          (["harm_z=lots"], "is a number"), (["joint_check=maybe"], "true or false"),
                          (["judge=nobody"], "judge must be")):
        with pytest.raises(CausalnetInputError, match=needle):
            parse_ingredients(items)


def test_prune_cli_ingredients_reach_the_plan_and_a_baseline_refuses_them(tmp_path, capsys):
    import json
    from pathlib import Path

    graph = Path(__file__).resolve().parents[2] / "benchmarks/results/graphs/lenet5.json"
    out = tmp_path / "p"
    code = main(["prune", "--model", "zoo:lenet5", "--graph", str(graph), "--data", "mnist",
                 "--target-params", "0.2", "--calibration", "4", "--ingredient", "harm_z=1",
                 "--ingredient", "rescore=full", "--out", str(out), "-q"])
    assert code == 0
    recorded = json.loads((out / "plan.json").read_text())["settings"]["ingredients"]
    assert (recorded["harm_z"], recorded["rescore"], recorded["harm"]) == (1.0, "full", "upper")
    code = main(["prune", "--model", "zoo:lenet5", "--target-params", "0.3", "--method", "l1",
                 "--ingredient", "harm_z=1", "--out", str(tmp_path / "b")])
    assert code == 2 and "--method l1 has none" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()
    code = main(["prune", "--model", "zoo:lenet5", "--graph", str(graph), "--target-params", "0.3",
                 "--ingredient", "harm_z=-2", "--out", str(tmp_path / "c")])
    assert code == 2 and "harm_z is a number of standard errors" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()


def test_the_capped_finish_ranks_a_unit_at_what_is_left_to_the_level():
    # 1 of cost left to the level: a0 (harm 1, cost 10) beats b0 (harm 0.5, cost 1) per unit of
    # cost (0.1 < 0.5), but past the level its 9 extra cost buy nothing; capped at the 1 left
    # it costs 1 (ratio 1.0), so b0 finishes the level instead, at half the harm
    import numpy as np

    from pruning.cswap import CswapIngredients, CswapPlanner, CswapSettings

    costs = {"a": {"size": 2, "params_per_unit": 10, "params_curvature": 0, "coupled": {}},
             "b": {"size": 2, "params_per_unit": 1, "params_curvature": 0, "coupled": {}}}
    scores = {"a": np.array([-1.0, -5.0]), "b": np.array([-0.5, -5.0])}
    members = {"a": np.zeros(2), "b": np.zeros(2)}
    first = {}
    for finish in ("greedy", "capped"):
        settings = CswapSettings().replace(harm="mean", finish=finish)
        planner = CswapPlanner(torch.nn.Linear(2, 2), None, settings)
        first[finish] = planner._next_chunk(scores, members, {"a": [0], "b": [0]}, {}, costs, 1.0, 1.0)
        # with more than a's cost left the two agree: a first
        assert planner._next_chunk(scores, members, {"a": [0], "b": [0]}, {}, costs, 1.0, 20.0) == {"a": [0]}
    assert first == {"greedy": {"a": [0]}, "capped": {"b": [0]}}
    assert CswapIngredients().finish == "capped"
    with pytest.raises(CausalnetInputError, match="finish must be"):
        CswapSettings().replace(finish="exact").validate()
