"""The report's HTML page: plain, self-contained (relative image paths, inline CSS), every text escaped."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape
from typing import Any

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:1320px;margin:1.5em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.5em;margin-bottom:.2em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.8em}
.notice{background:#fff4e5;border:1px solid #f0a040;padding:.7em 1em;border-radius:4px;font-weight:600}
.muted{color:#666;font-size:.9em}
table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:right}
th{background:#f3f3f3}td.l,th.l{text-align:left}
table.cm td{min-width:7em;text-align:center;font-size:1.1em}td.ok{background:#e8f5e9}td.bad{background:#fdecea}
.figs{display:flex;flex-wrap:wrap;gap:1em}.figs img{max-width:100%;border:1px solid #ddd}
.gallery{display:flex;flex-wrap:wrap;gap:1em}.gallery figure{margin:0;width:min(100%,520px)}
.gallery img{max-width:100%;border:1px solid #ddd}figcaption{font-size:.85em}
.fn{color:#b00020;font-weight:600}.fp{color:#8a5a00;font-weight:600}
.feat td{vertical-align:top;text-align:center}.feat img{border:1px solid #ddd;max-width:100%;height:auto}
.feat{overflow-x:auto;display:block}
ul.notes li{margin:.2em 0}
"""


def _e(value: Any) -> str:
    return escape(str(value), quote=True)


def _num(v: Any, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    return f"{v:.{digits}f}" if isinstance(v, float) else _e(v)


def _pct(v: Any) -> str:
    if v is None or not isinstance(v, (int, float)) or not math.isfinite(v):
        return "–"
    return f"{100 * v:.1f}%"


def _ci(ci: Sequence[float] | None, pct: bool = True) -> str:
    if not ci or any(c is None or not math.isfinite(c) for c in ci):
        return ""
    f = _pct if pct else _num
    return f' <span class="muted">({f(ci[0])}–{f(ci[1])})</span>'


def _img(src: str | None, alt: str, width: int | None = None) -> str:
    if not src:
        return f'<p class="muted">[{_e(alt)}: not drawn, see the notes below]</p>'
    w = f' width="{width}"' if width else ""
    return f'<img src="{_e(src)}" alt="{_e(alt)}"{w} loading="lazy">'


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1) -> str:
    """Cells are already-escaped HTML; the first ``left`` columns are left-aligned."""
    def cls(i: int) -> str:
        return ' class="l"' if i < left else ""

    head = "".join(f"<th{cls(i)}>{h}</th>" for i, h in enumerate(header))
    body = "".join("<tr>" + "".join(f"<td{cls(i)}>{c}</td>" for i, c in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _scope_text(scope: dict[str, Any]) -> str:
    """The gate's refusals among these films (each was still scored and counted above)."""
    if not scope.get("films"):
        return "–"
    why = ", ".join(f"{k} {v}" for k, v in (scope.get("reasons") or {}).items())
    return (f'<b>{scope["refused"]} of {scope["films"]} films ({scope["rate"]:.1%})</b> would be refused as out of '
            f"scope{': ' + _e(why) if why else ''}; they are still scored and counted here")


def _header(m: dict[str, Any]) -> str:
    model, data = m["model"], m["data"]
    vm = model.get("val_metrics") or {}
    card_rows = [
        ("model id", _e(model["id"])), ("file", _e(model["file"])),
        ("architecture", _e(model.get("architecture") or "–")),
        ("input", f'{_e(model["input_size"])} × {_e(model["input_size"])} px'),
        ("threshold", f'<b>{model["threshold"]:.4g}</b> — {_e(model["threshold_rule"])}'),
        ("validation metrics (card)", _e(", ".join(
            f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in vm.items()) or "–")),
        ("trained", _e(model.get("trained_at") or "–")),
        ("intended use", _e(model.get("intended_use") or "–")),
        ("run on", _e(model.get("provider") or "–")),
        ("scope gate", _e(model.get("scope_gate") or "–")),
        ("orientation check", _e(model.get("orientation_check") or "–")),
    ]
    by_label = data.get("selected_by_label") or {}
    subtypes = data.get("scored_by_subtype") or {}
    data_rows = [
        ("source", _e(data["source"])),
        ("split", _e(data["split"]) + (f' (random subset of {_e(data["limit"])})' if data.get("limit") else "")),
        ("films", f'{data["selected"]} selected ({_e(by_label.get("NORMAL", 0))} NORMAL, '
                  f'{_e(by_label.get("PNEUMONIA", 0))} PNEUMONIA); {data["scored"]} scored, '
                  f'<b>{data["unreadable"]} unreadable</b>'),
        ("scored by subtype", _e(", ".join(f"{k} {v}" for k, v in sorted(subtypes.items())) or "–")),
        ("scope gate on this set", _scope_text(m.get("scope") or {})),
        ("whole data set", _e(data.get("dataset_summary") or "–")),
    ]
    skipped = data.get("skipped_by_reader") or {}
    if skipped:
        data_rows.append(("skipped by the reader", _e(", ".join(f"{v} {k}" for k, v in skipped.items()))))
    conf = m["confusion"]
    headline = (
        f'ROC AUC <b>{_num(m["roc_auc"])}</b>{_ci(m.get("roc_auc_ci95"), pct=False)} · '
        f'AP {_num(m["average_precision"])} · Brier {_num(m["calibration"]["brier"])} · at the card threshold '
        f'{conf["threshold"]:.4g}: sensitivity <b>{_pct(conf["sensitivity"])}</b>, specificity '
        f'<b>{_pct(conf["specificity"])}</b>, accuracy {_pct(conf["accuracy"])}'
    )

    def kv(rows: Sequence[tuple[str, str]]) -> str:
        return "<table>" + "".join(f'<tr><th class="l">{_e(k)}</th><td class="l">{v}</td></tr>'
                                   for k, v in rows) + "</table>"

    return (
        f'<h1>Evaluation report: {_e(model["id"])} on {_e(data["split"])}</h1>'
        f'<p class="notice">{_e(m["notice"])}</p>'
        f'<p class="muted">Generated {_e(m["generated"])} by xrayviewer {_e(m["xrayviewer_version"])}. '
        f'Files: <a href="metrics.json">metrics.json</a>, <a href="predictions.csv">predictions.csv</a>.</p>'
        f"<p>{headline}</p>"
        f"<h2>Model</h2>{kv(card_rows)}<h2>Data</h2>{kv(data_rows)}"
    )


def _confusion(m: dict[str, Any]) -> str:
    c = m["confusion"]
    cm = (
        '<table class="cm"><tr><th></th><th>called PNEUMONIA</th><th>called NORMAL</th></tr>'
        f'<tr><th class="l">true PNEUMONIA</th><td class="ok">{c["tp"]} TP</td><td class="bad">{c["fn"]} FN</td></tr>'
        f'<tr><th class="l">true NORMAL</th><td class="bad">{c["fp"]} FP</td><td class="ok">{c["tn"]} TN</td></tr>'
        "</table>"
    )
    rates = _table(["measure", "value"], [
        ["sensitivity (pneumonia found)", _pct(c["sensitivity"]) + _ci(c["sensitivity_ci95"])],
        ["specificity (normals cleared)", _pct(c["specificity"]) + _ci(c["specificity_ci95"])],
        ["accuracy", _pct(c["accuracy"])],
        ["PPV (a PNEUMONIA call is right)", _pct(c["ppv"])],
        ["NPV (a NORMAL call is right)", _pct(c["npv"])],
    ])
    return (f'<h2>Confusion matrix at the card threshold ({c["threshold"]:.4g})</h2>'
            f'<div class="figs"><div>{cm}</div><div>{rates}</div></div>'
            '<p class="muted">Brackets: 95% Wilson intervals. PPV and NPV depend on how common pneumonia is '
            "in this set; they do not carry over to a clinic with another prevalence.</p>")


def _thresholds(m: dict[str, Any]) -> str:
    rows = [[_e(r["rule"]), f'{r["threshold"]:.4g}', _pct(r["sensitivity"]), _pct(r["specificity"]),
             _pct(r["accuracy"]), _pct(r["ppv"]), _pct(r["npv"]), str(r["fn"]), str(r["fp"])]
            for r in m["thresholds"]]
    return ("<h2>Threshold trade-off</h2>"
            + _table(["threshold rule", "threshold", "sensitivity", "specificity", "accuracy", "PPV", "NPV",
                      "missed pneumonias (FN)", "false alarms (FP)"], rows)
            + '<p class="muted">The sensitivity-target rows are chosen on this very set, so they show the '
              "trade-off, not a threshold to adopt from it.</p>")


def _subtypes(m: dict[str, Any]) -> str:
    rows = [[_e(r["subtype"]), str(r["n"]), _e(r["measure"]), _pct(r["value"]) + _ci(r["ci95"]),
             _num(r["mean_probability"])] for r in m["subtypes"]]
    return ("<h2>By subtype</h2>"
            + _table(["subtype", "films", "measure", "value (95% CI)", "mean probability"], rows)
            + '<p class="muted">Sensitivity for pneumonia subtypes, specificity for normals, at the card '
              "threshold.</p>")


def _figures(figures: dict[str, str | None], m: dict[str, Any], history_note: str) -> str:
    cal = m["calibration"]
    parts = [
        "<h2>ROC and precision-recall</h2>",
        '<div class="figs">' + _img(figures.get("roc"), "ROC curve") + _img(figures.get("pr"), "PR curve")
        + "</div>",
        '<p class="muted">Marked: the operating point at the model card threshold (and at 0.5 on the ROC).</p>',
        "<h2>Predicted probabilities</h2>", _img(figures.get("histogram"), "probability histogram"),
        "<h2>Calibration</h2>", _img(figures.get("calibration"), "reliability diagram"),
        f'<p>Brier score {_num(cal["brier"])} (0 is perfect; always answering the prevalence scores '
        f'p(1-p)); expected calibration error {_num(cal["ece"])} over {cal["bins"]} equal-width bins. '
        "Probabilities are scores for ranking and thresholding; read them as risks only where this curve "
        "follows the diagonal.</p>",
        "<h2>Training curves</h2>",
    ]
    t = m.get("training")
    if t and figures.get("training"):
        parts.append(_img(figures["training"], "training curves"))
        parts.append(f'<p class="muted">{_e(t["epochs"])} epochs in {t["minutes"]:.0f} min; best validation '
                     f'AUC {_num(t["best_val_auc"], 4)} at epoch {_e(t["best_epoch"])} (dashed line). '
                     "Sensitivity and specificity per epoch are at 0.5, not at the card threshold.</p>")
    else:
        parts.append(f'<p class="muted">{_e(history_note or "No training curves could be drawn.")}</p>')
    return "".join(parts)


def _gallery(gallery: Sequence[dict[str, Any]], m: dict[str, Any]) -> str:
    total = m.get("misclassified_total", len(gallery))
    head = (f"<h2>Misclassified films ({len(gallery)} of {total})</h2>"
            '<p class="muted">Most confidently wrong first. Each pair: the film, then its evidence heat map '
            "(colour only where a region alone would push the film over the card threshold, as in the viewer; "
            "a missed pneumonia is often colourless because no region reached it).</p>")
    if not gallery:
        return head + "<p>No film was misclassified at the card threshold.</p>"
    figs = []
    for g in gallery:
        cls = "fn" if g["kind"] == "false negative" else "fp"
        truth = g["label"] + (f' ({g["subtype"]})' if g["subtype"] and g["subtype"] != "normal" else "")
        figs.append(
            f'<figure>{_img(g["image"], g["name"])}<figcaption><span class="{cls}">{_e(g["kind"])}</span> · '
            f'p = {g["probability"]:.3f} · truth {_e(truth)}<br><span class="muted">{_e(g["name"])}</span>'
            "</figcaption></figure>"
        )
    return head + '<div class="gallery">' + "".join(figs) + "</div>"


def _features(features: Sequence[dict[str, Any]]) -> str:
    head = "<h2>Convolution feature maps</h2>"
    if not features:
        return head + '<p class="muted">No feature maps (see the notes).</p>'
    depths = [d["output"] for d in features[0]["depths"]]
    rows = []
    for f in features:
        cells = [f'<td>{_img(f["input"], "model input", 160)}<br><span class="muted">model input</span></td>']
        for d in f["depths"]:
            c, h, w = d["shape"]
            cells.append(f'<td>{_img(d["image"], d["output"], 240)}<br><span class="muted">{_e(d["output"])}: '
                         f"{d['shown']} of {c} channels, {h}×{w}</span></td>")
        rows.append(f'<tr><th class="l">{_e(f["name"])}<br>{_e(f["label"])}, p = {f["probability"]:.3f}</th>'
                    + "".join(cells) + "</tr>")
    return (head + '<p class="muted">Activations at each depth the model exposes ('
            + _e(", ".join(depths)) + "), each channel scaled to its own range (inferno colours), for a "
            "clear pneumonia and a clear normal film. They show what the network looks at, not why.</p>"
            '<table class="feat">' + "".join(rows) + "</table>")


def _unreadable(m: dict[str, Any]) -> str:
    bad = m.get("unreadable") or []
    if not bad:
        return ""
    rows = [[_e(b["path"]), _e(b["error"])] for b in bad]
    return (f"<h2>Unreadable films ({len(bad)})</h2><p>Left out of every number above.</p>"
            + _table(["film", "error"], rows, left=2))


def render(m: dict[str, Any], *, figures: dict[str, str | None], gallery: Sequence[dict[str, Any]],
           features: Sequence[dict[str, Any]], history_note: str = "") -> str:
    """The whole page from the metrics dict (as written to metrics.json) and the written image paths."""
    notes = m.get("notes") or []
    notes_html = ("<h2>Notes</h2><ul class=\"notes\">" + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul>"
                  if notes else "")
    body = (
        _header(m) + _confusion(m) + _thresholds(m) + _subtypes(m) + _figures(figures, m, history_note)
        + _gallery(gallery, m) + _features(features) + _unreadable(m) + notes_html
        + f'<hr><p class="notice">{_e(m["notice"])}</p>'
    )
    title = f'xrayviewer evaluation: {m["model"]["id"]} on {m["data"]["split"]}'
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_CSS}</style></head>'
            f"<body>{body}</body></html>\n")
