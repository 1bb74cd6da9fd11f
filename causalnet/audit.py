"""Audit a model's decisions from its causal graph, and (given the model and data) measure them.

``audit(graph)`` reads only the saved graph; ``audit(graph, model, data)`` adds measurements.
Every statement of the report carries the number it rests on; nothing is asserted unmeasured.

From the graph (METHOD.md sections 3 and 4):

- **class paths**: per class, the units its class graph keeps, per layer (kept / tested), each
  with its strongest edge effect for that class (drop of the class logit when the edge is cut),
  z and p: the causal path from the input to ``logit:c``;
- **shared units**: units in the class graphs of several classes; per class pair, the units both
  rely on (Jaccard overlap), and per shared unit the classes whose true-class probability it
  *lowers* (its per-class global effect: mean log p_y ratio under removal > 0);
- **detrimental units**: the units whose removal significantly raises the true-class probability
  (xi > 1, CI and p from the graph), with the classes they hurt most;
- **capacity per layer**: critical / neutral / detrimental counts, units in no class graph, and
  units with no measurable effect at all (xi = 1 to 1e-6: removing them changes no output);
- **stability**: the graph's stability data where it carries any (node attributes
  ``stability``/``reappearance``, or graph metadata ``stability``), else a note saying so.

With a model and data (``eval`` split):

- **accuracy** overall and per named subgroup (a dataset with ``subgroups``, e.g. colour-biased
  MNIST's aligned / conflicting images);
- **errors through units**: for misclassified inputs, the units whose mean ablation alone turns
  the decision back to the true class, per unit and per confusion (true -> predicted);
- **dead units**: units whose activation is constant over the audited inputs;
- **subgroup cues** (data with subgroups): each unit's effect of mean ablation on the true-class
  log-likelihood, measured separately on each subgroup; units whose removal helps one group
  significantly more than another (Welch z, Benjamini-Hochberg over all units) *favour* the
  other group - for colour-biased MNIST, the units that carry the colour cue. All flagged units
  are then ablated together and each group's accuracy is measured before and after.

The sections live in :mod:`causalnet.audit_sections` (graph only), :mod:`causalnet.audit_measured`
(model and data) and :mod:`causalnet.audit_render` (markdown / HTML / JSON).
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass

import torch
from torch import nn

from .audit_measured import _dead, _ds_subset, _errors, _reference, _subgroups
from .audit_render import FORMATS, to_html, to_markdown, write_report
from .audit_sections import (
    _capacity,
    _class_paths,
    _confidence,
    _detrimental,
    _num,
    _shared,
    _stability,
)
from .data import DataBundle
from .errors import CausalnetInputError
from .evaluate import predict_logits, prefer_channels_last
from .graph import CausalGraph
from .units import discover_units


@dataclass
class AuditSettings:
    """What decides the measured parts of an audit (recorded in the report)."""

    top: int = 8                    # units listed per table
    max_errors: int = 200           # misclassified inputs analysed (seeded choice)
    reference_per_class: int = 20   # clean images per class whose means mean ablation uses
    group_samples: int = 300        # inputs per subgroup for the subgroup-cue test
    alpha: float = 0.05
    seed: int = 0

    def validate(self) -> None:
        if self.top < 1 or self.max_errors < 1 or self.reference_per_class < 1 or self.group_samples < 2:
            raise CausalnetInputError("top, max_errors and reference_per_class must be >= 1, "
                                      "group_samples >= 2")
        if not 0 < self.alpha < 1:
            raise CausalnetInputError(f"alpha must be in (0, 1), got {self.alpha}")


# ------------------------------------------------------------------------------ the verb
def audit(graph: CausalGraph, model: nn.Module | None = None, data: DataBundle | None = None, *,
          settings: AuditSettings | None = None) -> dict:
    """The audit report of ``graph``.

    Args:
        graph: a causal graph (sections from the graph alone need nothing else).
        model: with ``data``, adds the measured sections (error paths, dead units, subgroups);
            the graph must have been built from it (checked by fingerprint).
        data: the data those sections are measured on.
        settings: :class:`AuditSettings`.

    Returns:
        The report as a JSON-able dict; render it with ``to_markdown`` / ``to_html``.
    """
    s = settings or AuditSettings()
    s.validate()
    if (model is None) != (data is None):
        raise CausalnetInputError("an audit measures with a model AND data: give both (--model and --data) "
                                  "or neither (graph only)")
    report = {
        "schema": "causalnet.audit", "schema_version": 1,
        "model": dict(graph.nx.graph.get("model", {})), "graph_data": dict(graph.nx.graph.get("data", {})),
        "summary": {k: v for k, v in graph.summary().items() if k != "classes"},
        "confidence": _confidence(graph),
        "class_paths": _class_paths(graph, s.top),
        "shared": _shared(graph, s.top),
        "detrimental": _detrimental(graph),
        "capacity": _capacity(graph),
        "stability": _stability(graph),
        "settings": asdict(s),
    }
    if model is None:
        return report
    graph.check_model(model)
    x0 = data.eval[0][0].unsqueeze(0)
    net = prefer_channels_last(copy.deepcopy(model).eval(), x0)
    units = discover_units(net, x0)
    ref = _reference(data, s)
    report["measured_on"] = {"data": data.spec, "eval_samples": len(data.eval),
                             "reference": f"{len(ref)} class-balanced images of the fit split (mean ablation)"}
    report["errors"] = _errors(net, units, data, ref, s, s.top)
    report["dead"] = _dead(net, units, ref)
    groups = getattr(data.eval, "subgroups", None)
    if groups:
        report["subgroup_accuracy"] = {}
        for g, mask in groups.items():
            idx = torch.nonzero(mask)[:, 0]
            if len(idx):
                x, y = _ds_subset(data.eval, idx)
                acc = (predict_logits(net, (x, y))[0].argmax(1) == y).float().mean().item()
                report["subgroup_accuracy"][g] = {"n": len(idx), "accuracy": _num(acc)}
        sub = _subgroups(net, units, data, ref, s)
        if sub is not None:
            report["subgroups"] = sub
    return report


def flagged_units(report: dict, favoured: str, hurt: str) -> list[str]:
    """Units the audit found favouring subgroup ``favoured`` at the cost of ``hurt``."""
    for d in report.get("subgroups", {}).get("directions", []):
        if d["favoured"] == favoured and d["hurt"] == hurt:
            return [r["unit"] for r in d["units"]]
    return []


__all__ = ["AuditSettings", "audit", "flagged_units", "to_markdown", "to_html", "write_report", "FORMATS"]
