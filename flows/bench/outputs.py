"""The benchmark's human-readable outputs: a Markdown table and threshold curves (PNG)."""

from __future__ import annotations

from pathlib import Path

from ocr.render import PRINT_FONT

KIND_JA = {
    "all": "全項目", "text": "住所等", "name_kanji": "氏名", "kana": "フリガナ", "digits": "数字",
    "postal_code": "郵便番号", "phone": "電話番号", "wareki_date": "和暦日付", "amount": "金額",
    "checkbox": "チェック", "choice": "選択",
}


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _tally_tables(title: str, tallies: dict) -> list[str]:
    lines = []
    for variant, kinds in tallies.items():
        lines += [f"## {title}: {variant}", "", "| kind | fields | read exactly | accepted | wrong among accepted "
                  "(95% upper) | needs_review | invalid |", "|---|---|---|---|---|---|---|"]
        others = [k for k in kinds if k != "all"]  # kinds, then each form (form:ID)
        for kind in ["all", *sorted(others, key=lambda k: (k.startswith("form:"), k))]:
            t = kinds[kind]
            lines.append(f"| {kind} | {t['fields']} | {_pct(t['exact'])} | {_pct(t['straight_through'])} | "
                         f"{t['accepted_wrong']} = {_pct(t['accepted_error'])} ({_pct(t['accepted_error_95_upper'])}) "
                         f"| {_pct(t['needs_review'])} | {_pct(t['invalid'])} |")
        lines.append("")
    return lines


def _identification_table(title: str, ident: dict) -> list[str]:
    """Per form: documents, identified as that form, read as another form, refused (by reason)."""
    if not ident:
        return []
    lines = [f"## {title}", "", "| form | documents | identified | read as another form | refused |", "|---|---|---|---|---|"]
    for form, r in ident.items():
        refused = ", ".join(f"{code} {n}" for code, n in sorted(r["refused"].items())) or "0"
        lines.append(f"| {form} | {r['documents']} | {r['identified']} = {_pct(r['identified'] / max(r['documents'], 1))} "
                     f"| {r['other_form']} | {refused} |")
    return lines + [""]


def _load_table(title: str, load: dict) -> list[str]:
    if not load:
        return []
    sec = next(iter(load.values()))["assumed_seconds_per_field"]
    lines = [f"## {title}", "", f"| reader | fields to review per document | documents with any | most in one document "
             f"| reviewer time per document (at {sec} s per field) |", "|---|---|---|---|---|"]
    for variant, r in load.items():
        lines.append(f"| {variant} | {r['fields_per_document']} | {_pct(r['documents_with_review'])} | "
                     f"{r['max_fields_in_a_document']} | {r['reviewer_seconds_per_document']} s |")
    return lines + [""]


def write_markdown(report: dict, path: Path) -> None:
    """results.md: the real-digit documents first (the headline), then the font-drawn ones, each per
    variant; review load; real digits alone; speed."""
    lines = [
        f"# Benchmark: {report['documents']} generated documents per set ({', '.join(report['forms'])}), "
        f"seed {report['seed']} ({report['seed_role']})",
        "",
        f"Machine: {report['machine']}. Thresholds: `{report['thresholds']}`; digit vote: "
        f"`{report.get('vote_thresholds')}`.",
        "",
    ]
    real = report.get("real_digit_documents", {})
    if "tallies" in real:
        lines += [f"Real-digit documents: every digit a real handwritten digit from {real['digits']}, a red seal "
                  f"over the name on {_pct(real['seal_rate'])} of them; the writers leave {real['spacing'][0]} to "
                  f"{real['spacing'][1]} of a character between characters (`--spacing`). `digit_kinds` = digits, "
                  "postal_code, amount, wareki_date, phone.", ""]
        lines += _identification_table("Identification, real-digit documents", real.get("identification", {}))
        lines += _tally_tables("Real handwritten digits and seals", real["tallies"])
        lines += _load_table("Review load, real-digit documents", real["review_load"])
    elif real:
        lines += [f"Real-digit documents skipped: {real['skipped']}", ""]
    lines += _identification_table("Identification, font-drawn documents", report.get("identification", {}))
    lines += _tally_tables("Font-drawn", report["generated_documents"])
    lines += _load_table("Review load, font-drawn documents (what reviewers would do per document)",
                         report.get("review_load", {}))
    digits = report["handwritten_digits"]
    lines += ["## Real handwritten digits (MNIST), one digit per box, 7 boxes per field", ""]
    if "skipped" in digits:
        lines += [f"Skipped: {digits['skipped']}", ""]
    else:
        lines += [f"{digits['fields']} fields, seed {digits['seed']}; at the digits threshold {digits['threshold']}:", "",
                  "| reader | read exactly | accepted | wrong among accepted (95% upper) |", "|---|---|---|---|"]
        for variant, d in digits["variants"].items():
            at = digits.get("vote_threshold", digits["threshold"]) if variant == "combined" else digits["threshold"]
            row = min(d["curve"], key=lambda r: abs(r["threshold"] - at))
            lines.append(f"| {variant} (threshold {row['threshold']}) | {_pct(d['exact'])} | {_pct(row['straight_through'])} | "
                         f"{row['accepted_wrong']} = {_pct(row['accepted_error'])} ({_pct(row['accepted_error_95_upper'])}) |")
        lines.append("")
        alone = digits.get("digit_reader_alone")
        if alone:
            lines += [f"### The digit reader alone, all {alone['cells']} MNIST test digits, one per cell", "",
                      f"Forced to answer every cell: {alone['forced_wrong']} wrong = {alone['forced_error']:.2%}.", "",
                      "| probability at least | coverage | wrong among accepted (95% upper) |", "|---|---|---|"]
            for r in alone["curve"]:
                lines.append(f"| {r['threshold']} | {_pct(r['coverage'])} | {r['accepted_wrong']} = "
                             f"{100 * r['accepted_error']:.3f}% ({100 * r['accepted_error_95_upper']:.3f}%) |")
            lines.append("")
    s = report["speed"]
    lines += ["## Speed", "", f"- pages per minute (reading only, models loaded): {s['pages_per_minute']}",
              f"- model load: {s['model_load_seconds']} s; peak memory: {s['peak_memory_mb']} MB",
              "- seconds per page by stage: " + ", ".join(f"{k} {v}" for k, v in s["seconds_per_page"].items()), ""]
    sbs = s.get("side_by_side")
    if sbs:
        lines += [f"### Side by side: the same {sbs['documents']} documents read by commit {sbs['revision']}'s code "
                  "and by this checkout, one after the other in this run", "",
                  "| reading | pages per minute | read stage, s/page | all stages, s/page |", "|---|---|---|---|"]
        for way in ("before", "now"):
            w = sbs[way]
            lines.append(f"| {way} | {w['pages_per_minute']} | {w['seconds_per_page'].get('read', 0)} | "
                         f"{w['seconds_per_page'].get('reading', 0)} |")
        lines += ["", f"Read stage {sbs['read_stage_speedup']}x as fast, the whole reading {sbs['reading_speedup']}x; "
                  f"{sbs['fields_read_differently']} of "
                  f"{sbs['fields']} fields read differently by some reader.", ""]
    path.write_text("\n".join(lines), encoding="utf-8")


def plot_curves(report: dict, path: Path) -> None:
    """Error among accepted fields against straight-through rate as the threshold moves, per kind."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import font_manager
    from matplotlib import pyplot as plt

    if PRINT_FONT.exists():
        font_manager.fontManager.addfont(str(PRINT_FONT))
        plt.rcParams["font.family"] = font_manager.FontProperties(fname=str(PRINT_FONT)).get_name()
    curves = report["curves"]
    kinds = sorted({k for v in curves.values() for k in v if k not in ("checkbox", "choice")})
    digits = report["handwritten_digits"].get("variants")
    panels = kinds + (["mnist"] if digits else [])
    cols = 3
    rows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)
    for ax, kind in zip(axes.ravel(), panels):
        series = {v: d["curve"] for v, d in digits.items()} if kind == "mnist" else {v: c[kind] for v, c in curves.items()}
        for variant, pts in series.items():
            ax.plot([p["straight_through"] * 100 for p in pts], [p["accepted_error"] * 100 for p in pts],
                    marker="o", markersize=3, label=variant)
        ax.axhline(0.1, color="grey", linestyle="--", linewidth=0.8)  # a human typist's error rate
        ax.set_title("手書き数字 (MNIST)" if kind == "mnist" else f"{KIND_JA.get(kind, kind)} ({kind})")
        ax.set_xlabel("自動確定率 %")
        ax.set_ylabel("確定項目の誤り率 %")
        ax.legend(fontsize=7)
    for ax in axes.ravel()[len(panels):]:
        ax.axis("off")
    fig.suptitle("しきい値を動かしたときの自動確定率と誤り率 (破線: 人の入力 0.1%)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
