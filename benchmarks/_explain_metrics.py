"""Metrics of the explanation benchmark that no installed library offers (tested in
``tests/benchmarks/test_explain_metrics.py``).

- rank agreement of two unit rankings: Spearman correlation (scipy) and top-k Jaccard;
- the area under a curve on [0, 1] (trapezoidal rule, x rescaled to [0, 1]);
- deletion / insertion curves of an input attribution (Petsiuk et al., RISE, 2018): pixels are
  removed from the image (deletion) or added to a baseline image (insertion) in the order of
  their attribution, and the softmax probability of the explained class is recorded after each
  step. A faithful attribution has a low deletion area and a high insertion area.

- IROF (Rieger and Hansen, 2020): SLIC superpixels (scikit-image) are replaced, one after the
  other in order of their mean attribution, by the image's mean value, and the class probability
  relative to the clean image's is recorded; the score is the area *over* that curve with the
  x axis scaled to [0, 1] (higher = more faithful). Quantus 0.6.0 has IROF but it calls
  ``np.trapz``, which numpy 2.4 no longer has, so it fails in this environment.

The Local Lipschitz estimate comes from Quantus; max-sensitivity and infidelity from Captum.
"""

from __future__ import annotations

import math

import numpy as np
import torch


def spearman(a, b) -> float:
    """Spearman rank correlation of two score vectors (NaN when either is constant)."""
    from scipy.stats import spearmanr

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.size < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return math.nan
    return float(spearmanr(a, b).statistic)


def top_k(scores, k: int) -> set[int]:
    """Indices of the ``k`` highest scores (ties broken by index, so the set is deterministic)."""
    scores = np.asarray(scores, dtype=float)
    order = np.lexsort((np.arange(scores.size), -scores))
    return {int(i) for i in order[:k]}


def k_of(fraction: float, n: int) -> int:
    """Number of units in the top ``fraction`` of ``n`` (at least 1, at most ``n``)."""
    return int(min(n, max(1, round(fraction * n))))


def topk_jaccard(a, b, fraction: float) -> float:
    """Jaccard index of the top ``fraction`` of units under two score vectors."""
    k = k_of(fraction, len(a))
    sa, sb = top_k(a, k), top_k(b, k)
    return len(sa & sb) / len(sa | sb)


def area(ys, xs=None) -> float:
    """Trapezoidal area under ``ys`` with ``xs`` (default evenly spaced) rescaled to [0, 1]:
    the mean height of the curve."""
    ys = np.asarray(ys, dtype=float)
    if ys.size < 2:
        return float(ys[0]) if ys.size else math.nan
    xs = np.linspace(0.0, 1.0, ys.size) if xs is None else np.asarray(xs, dtype=float)
    span = xs[-1] - xs[0]
    if span <= 0:
        raise ValueError("xs must increase")
    return float(np.sum((ys[1:] + ys[:-1]) * np.diff(xs)) / 2 / span)


@torch.no_grad()
def deletion_insertion(model, x: torch.Tensor, y: torch.Tensor, attributions: torch.Tensor, *,
                       steps: int = 20, baseline: float | torch.Tensor = 0.0,
                       batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Deletion and insertion curves: arrays (N, steps + 1) of the softmax probability of class
    ``y[i]`` after 0, 1/steps, ..., all of the pixels were removed (deletion: replaced by
    ``baseline``) or inserted (insertion: copied from ``x`` into the baseline image), most
    attributed pixels first.

    ``attributions`` is (N, H, W) or broadcastable to ``x``; it is summed over channels, and a
    pixel is removed in all channels at once. Ties are broken by pixel index.
    """
    n, _, h, w = x.shape
    a = attributions.reshape(n, -1, h, w).sum(1).reshape(n, h * w).double()
    # stable descending order: sort by -a, ties by index
    order = torch.stack([torch.from_numpy(np.lexsort((np.arange(h * w), -row.numpy())))
                         for row in a])
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(h * w).expand(n, -1).contiguous())
    base = torch.as_tensor(baseline, dtype=x.dtype).expand_as(x)
    counts = [round(i * h * w / steps) for i in range(steps + 1)]
    was = model.training
    model.eval()
    try:
        curves = {"deletion": [], "insertion": []}
        for count in counts:
            top = (rank < count).reshape(n, 1, h, w)           # the first ``count`` pixels
            deleted = torch.where(top, base, x)
            inserted = torch.where(top, x, base)
            for name, batch in (("deletion", deleted), ("insertion", inserted)):
                probs = torch.cat([torch.softmax(model(batch[i:i + batch_size]).float(), 1)
                                   for i in range(0, n, batch_size)])
                curves[name].append(probs.gather(1, y.view(-1, 1))[:, 0].numpy())
    finally:
        model.train(was)
    return np.stack(curves["deletion"], 1), np.stack(curves["insertion"], 1)


def superpixels(image: np.ndarray) -> np.ndarray:
    """SLIC segments (labels from 0) of one (C, H, W) image, as Quantus' IROF computes them."""
    try:
        from skimage.segmentation import slic
    except ImportError as exc:  # pragma: no cover - depends on the environment
        from causalnet.errors import CausalnetInputError

        raise CausalnetInputError("IROF needs scikit-image (SLIC superpixels): "
                                  "pip install scikit-image") from exc
    return slic(np.moveaxis(image, 0, -1).astype("double"), start_label=0, channel_axis=-1)


@torch.no_grad()
def irof(model, x: torch.Tensor, y: torch.Tensor, attributions: torch.Tensor, *,
         segments: list[np.ndarray] | None = None) -> np.ndarray:
    """IROF score per image (see the module docstring); ``segments`` (one (H, W) label map per
    image) default to :func:`superpixels`."""
    was = model.training
    model.eval()
    scores = []
    try:
        for i in range(len(x)):
            img = x[i]
            seg = superpixels(img.numpy()) if segments is None else np.asarray(segments[i])
            labels = np.unique(seg)
            attr = attributions[i].reshape(-1, *seg.shape).sum(0).double().numpy()
            mean_attr = np.array([attr[seg == s].mean() for s in labels])
            order = labels[np.lexsort((labels, -mean_attr))]
            batch = [img]
            current = img.clone()
            fill = img.mean()
            for s in order:
                current = current.clone()
                current[:, torch.from_numpy(seg == s)] = fill
                batch.append(current)
            p = torch.softmax(model(torch.stack(batch)).float(), 1)[:, int(y[i])]
            scores.append(1.0 - area((p / p[0].clamp_min(1e-12)).numpy()))
    finally:
        model.train(was)
    return np.array(scores)


__all__ = ["spearman", "top_k", "k_of", "topk_jaccard", "area", "deletion_insertion", "superpixels",
           "irof"]
