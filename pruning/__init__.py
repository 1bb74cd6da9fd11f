"""C-SWAP: one-shot structured pruning driven by a saved causal graph (see METHOD.md, section 5).

The public face::

    from pruning import load_pruned, prune, save_pruned

    pruned, plan, info = prune(model, data, graph=graph, target_params=0.5)
    save_pruned(pruned, plan, "pruned/", report={})
    model = load_pruned(fresh_model, "pruned/")     # a fresh instance of the source model

``CswapPlanner`` / ``CswapSettings`` (and ``CswapIngredients``, the switches of the ablation
study) plan a removal without applying it; ``finalize`` applies and repairs one; ``debias``
removes the units that carry a shortcut. Everything else stays importable from its module.
"""

from .api import METHODS, prune
from .cswap import CswapIngredients, CswapPlanner, CswapResult, CswapSettings
from .debias import DebiasSettings, debias
from .io import load_plan, load_pruned, make_plan, save_pruned
from .repair import DEFAULT_REPAIR, REPAIRS, finalize

__all__ = ["prune", "load_pruned", "save_pruned", "load_plan", "make_plan", "CswapPlanner",
           "CswapSettings", "CswapIngredients", "CswapResult", "finalize", "debias",
           "DebiasSettings", "METHODS", "REPAIRS", "DEFAULT_REPAIR"]
