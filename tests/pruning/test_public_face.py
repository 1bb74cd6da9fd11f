"""The package's public face, used as the README shows it: ``from pruning import load_pruned, prune``."""

import torch

import pruning


def test_the_public_names_resolve():
    for name in pruning.__all__:
        assert getattr(pruning, name) is not None
    assert {"prune", "load_pruned", "save_pruned", "CswapPlanner", "CswapSettings"} <= set(pruning.__all__)


def test_prune_save_and_load_pruned_as_the_readme_shows(tmp_path):
    from causalnet.data import load_data
    from causalnet.zoo import load_zoo_model
    from pruning import load_pruned, prune, save_pruned

    model, data = load_zoo_model("lenet5"), load_data("mnist")
    pruned, plan, _ = prune(model, data, method="l1", target_params=0.3, calibration_per_class=2)
    save_pruned(pruned, plan, tmp_path, report={})
    loaded = load_pruned(load_zoo_model("lenet5"), tmp_path)     # a fresh model, the folder
    x = data.eval.images[:8]
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), pruned(x))
