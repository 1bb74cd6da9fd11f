"""The causal saliency map next to Captum's gradient attributions, for the same images.

One row per image: the input, the causal map of the class graph
(:func:`causalnet.explain.causal_saliency`) and the maps of IntegratedGradients, Saliency,
GradientShap and InputXGradient for the same class, each drawn with Captum's
``visualize_image_attr`` (blended over the input), so the causal explanation can be compared
with the usual ones at a glance.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from causalnet.errors import CausalnetInputError
from causalnet.explain import causal_saliency, saliency_source
from causalnet.graph import CausalGraph

from ._io import save_figure

CAPTUM_METHODS = ("IntegratedGradients", "Saliency", "GradientShap", "InputXGradient")
MAX_ROWS = 8


def attribution_maps(model: nn.Module, x: torch.Tensor, target: int,
                     methods: Sequence[str] = CAPTUM_METHODS, *, seed: int = 0
                     ) -> dict[str, torch.Tensor]:
    """Captum attributions of ``target`` for ``x`` (N, C, H, W), one (N, C, H, W) tensor per
    method. Baselines: zeros (IntegratedGradients); zeros and the batch mean (GradientShap,
    8 noisy samples, seeded), so results repeat."""
    from captum import attr as ca

    unknown = [m for m in methods if m not in CAPTUM_METHODS]
    if unknown:
        raise CausalnetInputError(f"unknown attribution method(s) {unknown}; use {CAPTUM_METHODS}")
    was = model.training
    model.eval()
    x = x.detach().clone().requires_grad_(True)
    out: dict[str, torch.Tensor] = {}
    try:
        for name in methods:
            if name == "IntegratedGradients":
                a = ca.IntegratedGradients(model).attribute(x, baselines=torch.zeros_like(x),
                                                           target=target, n_steps=32)
            elif name == "Saliency":
                a = ca.Saliency(model).attribute(x, target=target, abs=True)
            elif name == "GradientShap":
                baselines = torch.cat([torch.zeros_like(x[:1]), x.detach().mean(0, keepdim=True)])
                state = torch.random.get_rng_state()
                torch.manual_seed(seed)
                try:
                    a = ca.GradientShap(model).attribute(x, baselines=baselines, target=target,
                                                         n_samples=8, stdevs=0.1)
                finally:
                    torch.random.set_rng_state(state)
            else:
                a = ca.InputXGradient(model).attribute(x, target=target)
            out[name] = a.detach()
    finally:
        model.train(was)
    return out


def _image(t: torch.Tensor):
    """(C, H, W) tensor -> (H, W, C) numpy in [0, 1] (min-max scaled: inputs are normalised)."""
    a = t.detach().float().cpu()
    a = (a - a.min()) / (a.max() - a.min()).clamp_min(1e-12)
    return a.permute(1, 2, 0).numpy()


def explanation_figure(model: nn.Module, graph: CausalGraph, x: torch.Tensor, cls: int,
                       out: str | os.PathLike, *, methods: Sequence[str] = CAPTUM_METHODS,
                       fmt: str | None = None, check_model: bool = True) -> Path:
    """Write a figure comparing causal and gradient explanations of class ``cls`` for the
    first (at most 8) images of ``x``; returns the path written (png, svg or pdf)."""
    from captum.attr import visualization as captum_viz
    from matplotlib.figure import Figure

    x = x[:MAX_ROWS]
    causal = causal_saliency(model, graph, x, cls, check_model=check_model).cpu()
    source = saliency_source(model, graph, cls)
    attributions = attribution_maps(model, x, cls, methods)
    columns = ["input", f"causal ({source})", *methods]
    fig = Figure(figsize=(1.9 * len(columns), 1.9 * len(x) + 0.6), layout="constrained")
    axes = fig.subplots(len(x), len(columns), squeeze=False)
    for i in range(len(x)):
        image = _image(x[i])
        maps = [causal[i][..., None].numpy(), *(_image_attr(attributions[m][i]) for m in methods)]
        if image.shape[2] == 1:  # Captum shows one-channel images in colour; grey reads better
            axes[i, 0].imshow(image[..., 0], cmap="gray", vmin=0, vmax=1)
            axes[i, 0].set_xticks([])
            axes[i, 0].set_yticks([])
        else:
            captum_viz.visualize_image_attr(image, image, method="original_image",
                                            plt_fig_axis=(fig, axes[i, 0]), use_pyplot=False)
        for j, attr_map in enumerate(maps, start=1):
            captum_viz.visualize_image_attr(attr_map, image, method="blended_heat_map",
                                            sign="positive" if j == 1 else "absolute_value",
                                            plt_fig_axis=(fig, axes[i, j]), use_pyplot=False,
                                            alpha_overlay=0.6)
        for j, ax in enumerate(axes[i]):
            if i == 0:
                ax.set_title(columns[j], fontsize=8)
    fig.suptitle(f"explanations of class {cls}", fontsize=10)
    return save_figure(fig, out, fmt)


def _image_attr(a: torch.Tensor):
    """(C, H, W) attribution -> (H, W, C) numpy for ``visualize_image_attr``."""
    return a.detach().float().cpu().permute(1, 2, 0).numpy()
