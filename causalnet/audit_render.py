"""Rendering an audit report (the dict :func:`causalnet.audit.audit` returns) as markdown,
HTML or JSON."""

from __future__ import annotations

import html
import json
import os
from pathlib import Path

from .errors import CausalnetInputError
from .fileio import atomic_write_json, atomic_write_text

FORMATS = ("md", "html", "json")


def _blocks(r: dict) -> list[tuple]:
    """The report as a list of blocks: ("h", level, text), ("p", text), ("table", header, rows)."""
    b: list[tuple] = []
    m = r["model"]
    b.append(("h", 1, f"Audit of {m.get('spec', m.get('architecture', 'a model'))}"))
    s, conf = r["summary"], r["confidence"]
    cats = s["categories"]
    b.append(("p", f"Model fingerprint `{m.get('fingerprint')}`; graph built on `{r['graph_data'].get('spec')}`: "
                   f"{s['units']} units, {s['edges']} causal edges; global effects: {cats.get('critical', 0)} critical, "
                   f"{cats.get('neutral', 0)} neutral, {cats.get('detrimental', 0)} detrimental "
                   f"({conf['calibration_per_class']} calibration images per class, {conf['intervention']} "
                   f"intervention, alpha {conf['alpha']}, correction {conf['correction']}; "
                   f"median 95% CI width of xi: {conf['median_xi_ci_width']}). Class graphs: {conf['class_test']}."))
    if "measured_on" in r:
        mo = r["measured_on"]
        e = r["errors"]
        line = (f"Measured on `{mo['data']}` ({mo['eval_samples']} evaluation inputs): accuracy {e['accuracy']}, "
                f"{e['n_errors']} errors. Mean ablation uses the means over {mo['reference']}.")
        if r.get("subgroup_accuracy"):
            line += " Per subgroup: " + ", ".join(f"{g} {v['accuracy']} (n={v['n']})"
                                                 for g, v in r["subgroup_accuracy"].items()) + "."
        b.append(("p", line))
    # subgroup cues first: they are the findings a reviewer needs most
    if r.get("subgroups"):
        sg = r["subgroups"]
        b.append(("h", 2, "Units that favour one subgroup of inputs over another"))
        if "note" in sg:
            b.append(("p", sg["note"]))
        else:
            cue = f" (the planted cue: {sg['cue']})" if sg.get("cue") else ""
            sizes = ", ".join(f"{n} `{g}`" for g, n in sg["n_per_group"].items())
            b.append(("p", f"Each unit was mean-ablated on {sizes} inputs{cue}; "
                           "effect = mean change of log p(true class) under ablation (> 0: removing the unit "
                           "helps that group). A unit is flagged when removing it helps one group "
                           "significantly more than the other (one-sided Welch z, Benjamini-Hochberg over "
                           f"all units, alpha {r['settings']['alpha']}) and helps that group on average."))
            for d in sg["directions"]:
                fav, hurt = d["favoured"], d["hurt"]
                b.append(("h", 3, f"{d['n_flagged']} units favour `{fav}` inputs at the cost of `{hurt}` inputs"))
                if d["units"]:
                    top = r["settings"]["top"]
                    rows = [[f"`{u['unit']}`", u[f"effect_{fav}"], u[f"effect_{hurt}"], u["difference"], u["z"],
                             u["p_adj"]] for u in d["units"][:top]]
                    b.append(("table", ["unit", f"effect on {fav}", f"effect on {hurt}", "difference", "z",
                                        "p (BH)"], rows))
                    if len(d["units"]) > top:
                        b.append(("p", f"... and {len(d['units']) - top} more (all in the JSON report)."))
                    j = d["joint_ablation"]
                    b.append(("p", f"Ablating these {j['units']} units together: " + "; ".join(
                        f"`{g}` accuracy {v['before']} -> {v['after']}" for g, v in j.items() if g != "units")
                        + " (on the same samples)."))
    b.append(("h", 2, "Causal path of each class"))
    for c, cp in r["class_paths"].items():
        b.append(("h", 3, f"Class {c}: {cp['units']} causal units (from {cp['n_samples']} correctly classified "
                          f"inputs, mean logit {cp['observed_mean_logit']}; walk stopped at `{cp['stopped_at']}`)"))
        rows = []
        for layer in cp["layers"]:
            units = ", ".join(f"`{u['unit']}` ({u['effect']}, z {u['z']}, p {u['p']})" for u in layer["units"])
            if layer["more"]:
                units += f", +{layer['more']} more"
            if "joint_test" in layer:  # kept by the joint walk: the joint cut is the evidence
                jt = layer["joint_test"]
                fewer = "-" if jt["held_one_fewer"] is None else f"{jt['held_one_fewer']:.0%}"
                units = (f"kept together (joint walk): with these the class holds {jt['held_kept']:.0%} of "
                         f"its inputs (target {jt['target_held']:.0%}), with one fewer {fewer}; "
                         f"per unit the first-order margin drop: {units or '-'}")
            rows.append([f"`{layer['layer']}`", f"{layer['kept']}/{layer['tested'] or layer['size']}", units or "-"])
        b.append(("table", ["layer", "kept/tested", "units (drop of the class logit when cut, z, p)"], rows))
    sh = r["shared"]
    b.append(("h", 2, "Units shared between classes"))
    b.append(("p", f"{sh['n_units']} units are in the class graphs of two or more classes."))
    if sh["pairs"]:
        b.append(("table", ["classes", "shared units", "Jaccard", "examples"],
                  [[f"{p['classes'][0]} & {p['classes'][1]}", p["shared"], p["jaccard"],
                    ", ".join(f"`{u}`" for u in p["units"][:4])] for p in sh["pairs"]]))
    if sh["units"]:
        b.append(("table", ["unit", "in class graphs of", "xi", "category", "lowers p(true) of classes (mean log ratio)"],
                  [[f"`{u['unit']}`", ", ".join(map(str, u["classes"])), u["xi"], u["category"],
                    _hurt_text(u["hurts"])] for u in sh["units"]]))
    det = r["detrimental"]
    b.append(("h", 2, "Detrimental units (removing them raises the true-class probability)"))
    if det:
        b.append(("table", ["unit", "xi", "95% CI", "p", "hurts classes (mean log ratio)", "in class graphs"],
                  [[f"`{d['unit']}`", d["xi"], f"{d['ci'][0]}..{d['ci'][1]}", d["p"], _hurt_text(d["hurts"]),
                    ", ".join(map(str, d["classes"])) or "-"] for d in det[: r["settings"]["top"] * 3]]))
        if len(det) > r["settings"]["top"] * 3:
            b.append(("p", f"... {len(det)} in all (see the JSON report)."))
    else:
        b.append(("p", "None: no unit's removal significantly raised the true-class probability on the "
                       "graph's calibration set."))
    if "errors" in r:
        e = r["errors"]
        b.append(("h", 2, "Which units the test errors run through"))
        if not e["n_errors"]:
            b.append(("p", "The model makes no error on this data."))
        else:
            b.append(("p", f"{e['analysed']} of {e['n_errors']} misclassified inputs analysed: mean-ablating one "
                           f"unit alone flips {e['fixable_by_one_unit']} of them back to the true class; "
                           f"{e['units_that_flip']} units flip at least one."))
            if e["confusions"]:
                b.append(("table", ["true -> predicted", "errors", "fixable by one unit", "units (errors flipped)"],
                          [[f"{c['true']} -> {c['predicted']}", c["errors"], c["fixable"],
                            ", ".join(f"`{u['unit']}` ({u['flips']})" for u in c["units"]) or "-"]
                           for c in e["confusions"]]))
            if e["units"]:
                b.append(("table", ["unit", "errors flipped", "share", "main confusions"],
                          [[f"`{u['unit']}`", u["flips"], u["share"], ", ".join(u["confusions"])] for u in e["units"]]))
    b.append(("h", 2, "Capacity per layer"))
    dead = {d["layer"]: d for d in r.get("dead", [])}
    header = ["layer", "units", "critical", "neutral", "detrimental", "in no class graph", "no measurable effect"]
    if dead:
        header.append("dead (constant activation)")
    rows = []
    for c in r["capacity"]:
        row = [f"`{c['layer']}`", c["units"], c["critical"], c["neutral"], c["detrimental"], c["in_no_class_graph"],
               c["no_measurable_effect"]]
        if dead:
            row.append(dead.get(c["layer"], {}).get("dead", "-"))
        rows.append(row)
    b.append(("table", header, rows))
    b.append(("h", 2, "Stability"))
    st = r["stability"]
    if not st["available"]:
        b.append(("p", st["note"].capitalize() + "."))
    else:
        if "mean_rate" in st:
            b.append(("p", f"{st['units_with_rate']} units carry a reappearance rate; mean {st['mean_rate']}. "
                           "Least stable: " + ", ".join(f"`{u['unit']}` ({u['rate']})" for u in st["least_stable"])))
        if "metadata" in st:
            b.append(("p", "Graph stability metadata: `" + json.dumps(st["metadata"], sort_keys=True)[:400] + "`"))
    return b


def _hurt_text(hurts: list[dict]) -> str:
    return ", ".join(f"{h['class']} (+{h['mean_log_ratio']})" for h in hurts) or "-"


def to_markdown(report: dict) -> str:
    out = []
    for blk in _blocks(report):
        if blk[0] == "h":
            out += ["#" * blk[1] + " " + blk[2], ""]
        elif blk[0] == "p":
            out += [blk[1], ""]
        else:
            _, header, rows = blk
            out.append("| " + " | ".join(header) + " |")
            out.append("|" + "---|" * len(header))
            out += ["| " + " | ".join("-" if v is None else str(v) for v in row) + " |" for row in rows]
            out.append("")
    return "\n".join(out).rstrip() + "\n"


def _inline(text: str) -> str:
    parts = html.escape(str(text)).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def to_html(report: dict) -> str:
    body = []
    for blk in _blocks(report):
        if blk[0] == "h":
            body.append(f"<h{blk[1]}>{_inline(blk[2])}</h{blk[1]}>")
        elif blk[0] == "p":
            body.append(f"<p>{_inline(blk[1])}</p>")
        else:
            _, header, rows = blk
            head = "".join(f"<th>{_inline(h)}</th>" for h in header)
            cells = "".join("<tr>" + "".join(f"<td>{_inline('-' if v is None else v)}</td>" for v in row) + "</tr>"
                            for row in rows)
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{cells}</tbody></table>")
    style = ("body{font-family:sans-serif;max-width:70em;margin:2em auto;line-height:1.4}"
             "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.2em .5em;"
             "text-align:left;vertical-align:top}code{background:#f3f3f3}")
    title = html.escape(_blocks(report)[0][2])
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>"
            f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n")


def write_report(report: dict, path: str | os.PathLike, fmt: str | None = None) -> Path:
    """Write ``report`` to ``path`` as markdown, HTML or JSON (default: from the suffix)."""
    path = Path(path)
    fmt = fmt or {".html": "html", ".json": "json"}.get(path.suffix.lower(), "md")
    if fmt not in FORMATS:
        raise CausalnetInputError(f"unknown report format {fmt!r}; use one of {', '.join(FORMATS)}")
    if fmt == "json":
        atomic_write_json(path, json.loads(json.dumps(report, default=str)))
    elif fmt == "html":
        atomic_write_text(path, to_html(report))
    else:
        atomic_write_text(path, to_markdown(report))
    return path
