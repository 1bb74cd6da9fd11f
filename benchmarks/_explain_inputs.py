"""Input-level explanations for the explanation benchmark: paper 2's causal visual explanation
(:func:`causalnet.explain.causal_saliency`) against Captum's IntegratedGradients, Saliency,
GradientShap and InputXGradient, judged by

- Local Lipschitz estimate (Quantus ``LocalLipschitzEstimate``: 10 Gaussian perturbations of
  the model input, mean 0.1, sd 0.1, Quantus' default max-normalisation; lower = more stable);
- max-sensitivity (Captum ``sensitivity_max``, its default radius 0.02, 10 samples; lower);
- infidelity (Captum ``infidelity``, Gaussian perturbations sd 0.1, 10 samples, with Captum's
  optimal rescaling of the attribution (``normalize=True``), since the causal map is a
  distribution; lower);
- IROF (ours, :mod:`benchmarks._explain_metrics`, as Quantus defines it: SLIC superpixels
  removed in order of mean attribution, replaced by the image mean; area over the relative
  class-probability curve, x scaled to [0, 1]; higher = more faithful. Quantus' own IROF
  fails with numpy 2.4);
- deletion / insertion AUC (ours, :mod:`benchmarks._explain_metrics`; deletion lower,
  insertion higher), pixels replaced by / inserted into the dataset mean (0 after normalisation).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from causalnet.errors import CausalnetInputError

METHODS = ("causal", "IntegratedGradients", "Saliency", "GradientShap", "InputXGradient")
METRICS = ("local_lipschitz", "sensitivity_max", "infidelity", "irof", "deletion_auc",
           "insertion_auc")
LOWER_IS_BETTER = {"local_lipschitz": True, "sensitivity_max": True, "infidelity": True,
                   "irof": False, "deletion_auc": True, "insertion_auc": False}


def require_quantus():
    try:
        import quantus
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise CausalnetInputError(
            "the input-level explanation benchmark needs Quantus (Local Lipschitz estimate): "
            "pip install quantus") from exc
    return quantus


def explainer(model: nn.Module, method: str, *, graph=None, n_steps: int = 32,
              shap_baselines: torch.Tensor | None = None):
    """``explain(x, y) -> (N, C, H, W)`` attributions of ``method`` for targets ``y``."""
    import captum.attr as ca

    if method == "causal":
        from causalnet.explain import causal_saliency

        if graph is None:
            raise ValueError("the causal explanation needs the model's graph")
        graph.check_model(model)

        def explain(x, y):
            out = torch.zeros(len(x), *x.shape[2:])
            for c in torch.unique(y).tolist():
                sel = y == c
                out[sel] = causal_saliency(model, graph, x[sel], int(c), check_model=False).float()
            return out.unsqueeze(1).expand_as(x).contiguous() if x.shape[1] > 1 else out.unsqueeze(1)
        return explain
    if method == "IntegratedGradients":
        ig = ca.IntegratedGradients(model)
        return lambda x, y: ig.attribute(x, baselines=torch.zeros_like(x), target=y,
                                         n_steps=n_steps, internal_batch_size=512).detach()
    if method == "Saliency":
        sal = ca.Saliency(model)
        return lambda x, y: sal.attribute(x, target=y, abs=True).detach()
    if method == "GradientShap":
        gs = ca.GradientShap(model)
        if shap_baselines is None:
            raise ValueError("GradientShap needs baselines")
        return lambda x, y: gs.attribute(x, baselines=shap_baselines, target=y,
                                         n_samples=10).detach()
    if method == "InputXGradient":
        ixg = ca.InputXGradient(model)
        return lambda x, y: ixg.attribute(x, target=y).detach()
    raise ValueError(f"unknown method {method!r}")


def _quantus_fn(explain):
    def fn(model, inputs, targets, **kwargs):
        x = torch.as_tensor(np.asarray(inputs), dtype=torch.float32)
        y = torch.as_tensor(np.asarray(targets), dtype=torch.long)
        return explain(x, y).numpy()
    return fn


def evaluate(model: nn.Module, explain, x: torch.Tensor, y: torch.Tensor, *, seed: int,
             lipschitz_samples: int = 10, sens_samples: int = 10, steps: int = 28) -> dict:
    """Every metric of the module docstring, averaged over the images ``(x, y)``."""
    import captum.metrics as cm

    quantus = require_quantus()
    model.eval()
    torch.manual_seed(seed)
    np.random.seed(seed)  # Quantus draws its perturbations from numpy's global generator
    a = explain(x, y)
    xn, yn, an = x.numpy(), y.numpy(), a.numpy()
    out = {}
    lle = quantus.LocalLipschitzEstimate(nr_samples=lipschitz_samples, perturb_mean=0.1,
                                         perturb_std=0.1, disable_warnings=True,
                                         display_progressbar=False)
    out["local_lipschitz"] = float(np.nanmean(lle(model=model, x_batch=xn, y_batch=yn, a_batch=an,
                                                  explain_func=_quantus_fn(explain),
                                                  device="cpu")))
    torch.manual_seed(seed)

    def captum_fn(inputs, target):  # Captum hands the inputs over as a tuple
        if isinstance(inputs, tuple):
            return (explain(inputs[0], target),)
        return explain(inputs, target)

    sens = cm.sensitivity_max(captum_fn, x, n_perturb_samples=sens_samples, target=y)
    out["sensitivity_max"] = float(sens.mean())

    def perturb(inputs):
        noise = torch.randn_like(inputs) * 0.1
        return noise, inputs - noise

    torch.manual_seed(seed)
    with torch.no_grad():
        infid = cm.infidelity(model, perturb, x, a, target=y, n_perturb_samples=sens_samples,
                              normalize=True)
    out["infidelity"] = float(infid.mean())
    from benchmarks._explain_metrics import area, deletion_insertion, irof

    out["irof"] = float(np.mean(irof(model, x, y, a)))
    dele, ins = deletion_insertion(model, x, y, a, steps=steps, baseline=0.0)
    out["deletion_auc"] = float(np.mean([area(r) for r in dele]))
    out["insertion_auc"] = float(np.mean([area(r) for r in ins]))
    return out


__all__ = ["METHODS", "METRICS", "LOWER_IS_BETTER", "explainer", "evaluate", "require_quantus"]
