"""The statistics of causal effects: the class-graph z-test, the paired test of global effects,
Benjamini-Hochberg correction and confidence intervals (METHOD.md, sections 3 and 4)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

CATEGORIES = ("critical", "neutral", "detrimental")


def z_critical(alpha: float) -> float:
    """One-sided critical value z_alpha (1.645 for alpha = 0.05)."""
    return float(sps.norm.ppf(1.0 - alpha))


@dataclass
class DropTest:
    """One-sided two-sample z-tests of "the intervened mean is lower than the observed mean"."""

    drop: np.ndarray       # mean_obs - mean_intervened, per candidate
    rel_drop: np.ndarray   # drop / |mean_obs|
    z: np.ndarray          # drop / standard error
    p: np.ndarray          # one-sided p-value, P(Z >= z)


def drop_z_test(observed: np.ndarray, intervened: np.ndarray) -> DropTest:
    """Test each row of ``intervened`` (candidates x N samples) against ``observed`` (N,).

    Paper 2's rule: keep a candidate when mean_w < mean_obs - z_alpha * sqrt(sd_w^2/N + sd_obs^2/N),
    i.e. when the one-sided p-value is below alpha. Standard deviations are the unbiased ones.
    A candidate with zero standard error and no drop gets z = 0, p = 0.5 (nothing to see).
    """
    observed = np.asarray(observed, dtype=np.float64)
    intervened = np.atleast_2d(np.asarray(intervened, dtype=np.float64))
    n_obs, n_int = observed.shape[0], intervened.shape[1]
    mean_obs = observed.mean()
    var_obs = observed.var(ddof=1) if n_obs > 1 else 0.0
    mean_int = intervened.mean(axis=1)
    var_int = intervened.var(axis=1, ddof=1) if n_int > 1 else np.zeros(len(intervened))
    drop = mean_obs - mean_int
    se = np.sqrt(var_int / n_int + var_obs / n_obs)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, drop / np.where(se > 0, se, 1.0), np.sign(drop) * np.inf)
    z = np.where(np.isnan(z) | (drop == 0), 0.0, z)
    p = sps.norm.sf(z)
    rel = drop / max(abs(mean_obs), 1e-12)
    return DropTest(drop=drop, rel_drop=rel, z=z, p=p)


def paired_drop_test(observed: np.ndarray, intervened: np.ndarray) -> DropTest:
    """Paired one-sided z-test of the same drop: each intervened value is compared with the same
    input's observed value, so the spread of the logit across inputs does not hide a drop that
    every input shows (more powerful than paper 2's two-sample test, same null hypothesis)."""
    observed = np.asarray(observed, dtype=np.float64)
    intervened = np.atleast_2d(np.asarray(intervened, dtype=np.float64))
    diff = observed[None, :] - intervened
    n = diff.shape[1]
    drop = diff.mean(axis=1)
    se = diff.std(axis=1, ddof=1) / np.sqrt(n) if n > 1 else np.zeros(len(diff))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, drop / np.where(se > 0, se, 1.0), np.sign(drop) * np.inf)
    z = np.where(np.isnan(z) | (drop == 0), 0.0, z)
    rel = drop / max(abs(observed.mean()), 1e-12)
    return DropTest(drop=drop, rel_drop=rel, z=z, p=sps.norm.sf(z))


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (step-up, monotone, capped at 1)."""
    p = np.asarray(p, dtype=np.float64)
    if p.size == 0:
        return p
    return sps.false_discovery_control(p, method="bh")


def adjust(p: np.ndarray, correction: str) -> np.ndarray:
    """p-values after ``correction`` ('none' or 'bh')."""
    if correction == "none":
        return np.asarray(p, dtype=np.float64)
    if correction == "bh":
        return benjamini_hochberg(p)
    raise ValueError(f"unknown correction {correction!r}; use 'none' or 'bh'")


@dataclass
class GlobalEffect:
    """Global causal effects of groups: xi = mean ratio p_y(removed) / p_y, its CI, a p-value."""

    xi: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    p: np.ndarray
    mean_log_ratio: np.ndarray

    def categories(self, alpha: float, correction: str = "none") -> list[str]:
        """critical (removal significantly lowers the true-class probability), detrimental
        (significantly raises it) or neutral."""
        p = adjust(self.p, correction)
        out = []
        for pi, lr in zip(p, self.mean_log_ratio, strict=True):
            if pi < alpha and lr < 0:
                out.append("critical")
            elif pi < alpha and lr > 0:
                out.append("detrimental")
            else:
                out.append("neutral")
        return out


def global_effect_test(log_ratio: np.ndarray, alpha: float = 0.05) -> GlobalEffect:
    """Paired test of log r_g(x) against 0 for each row (groups x M calibration samples).

    A one-sample t-test on the log ratios (the ratios are paired with the clean prediction of the
    same sample, and logs make removal-halves and removal-doubles symmetric); xi and its
    (1 - alpha) t-interval are computed on r itself. Rows with no variance (dead units: r = 1 on
    every sample) get p = 1 unless their mean log ratio is non-zero.
    """
    log_ratio = np.atleast_2d(np.asarray(log_ratio, dtype=np.float64))
    m = log_ratio.shape[1]
    ratio = np.exp(log_ratio)
    xi = ratio.mean(axis=1)
    mean_lr = log_ratio.mean(axis=1)
    sd_lr = log_ratio.std(axis=1, ddof=1) if m > 1 else np.zeros(len(log_ratio))
    se_r = (ratio.std(axis=1, ddof=1) if m > 1 else np.zeros(len(ratio))) / math.sqrt(m)
    t_crit = float(sps.t.ppf(1 - alpha / 2, max(m - 1, 1)))
    with np.errstate(divide="ignore", invalid="ignore"):
        t = mean_lr / (sd_lr / math.sqrt(m))
    p = np.where(sd_lr > 0, 2 * sps.t.sf(np.abs(np.nan_to_num(t)), max(m - 1, 1)),
                 np.where(np.abs(mean_lr) > 0, 0.0, 1.0))
    return GlobalEffect(xi=xi, ci_low=xi - t_crit * se_r, ci_high=xi + t_crit * se_r, p=p,
                        mean_log_ratio=mean_lr)
