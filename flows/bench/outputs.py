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


def write_markdown(report: dict, path: Path) -> None:
    """results.md: one table per variant (engine alone, combined), digits, speed."""
    lines = [
        f"# Benchmark: {report['documents']} generated documents ({', '.join(report['forms'])}), "
        f"seed {report['seed']} ({report['seed_role']})",
        "",
        f"Machine: {report['machine']}. Thresholds: `{report['thresholds']}`.",
        "",
    ]
    for variant, kinds in report["generated_documents"].items():
        lines += [f"## {variant}", "", "| kind | fields | read exactly | accepted | wrong among accepted (95% upper) "
                  "| needs_review | invalid |", "|---|---|---|---|---|---|---|"]
        for kind in ["all", *(k for k in kinds if k != "all")]:
            t = kinds[kind]
            lines.append(f"| {kind} | {t['fields']} | {_pct(t['exact'])} | {_pct(t['straight_through'])} | "
                         f"{t['accepted_wrong']} = {_pct(t['accepted_error'])} ({_pct(t['accepted_error_95_upper'])}) "
                         f"| {_pct(t['needs_review'])} | {_pct(t['invalid'])} |")
        lines.append("")
    load = report.get("review_load", {})
    if load:
        sec = next(iter(load.values()))["assumed_seconds_per_field"]
        lines += ["## Review load (what reviewers would do per document)", "",
                  f"| reader | fields to review per document | documents with any | most in one document "
                  f"| reviewer time per document (at {sec} s per field) |", "|---|---|---|---|---|"]
        for variant, r in load.items():
            lines.append(f"| {variant} | {r['fields_per_document']} | {_pct(r['documents_with_review'])} | "
                         f"{r['max_fields_in_a_document']} | {r['reviewer_seconds_per_document']} s |")
        lines.append("")
    digits = report["handwritten_digits"]
    lines += ["## Real handwritten digits (MNIST), one digit per box, 7 boxes per field", ""]
    if "skipped" in digits:
        lines += [f"Skipped: {digits['skipped']}", ""]
    else:
        lines += [f"{digits['fields']} fields, seed {digits['seed']}; at the digits threshold {digits['threshold']}:", "",
                  "| reader | read exactly | accepted | wrong among accepted (95% upper) |", "|---|---|---|---|"]
        for variant, d in digits["variants"].items():
            row = next(r for r in d["curve"] if r["threshold"] == digits["threshold"])
            lines.append(f"| {variant} | {_pct(d['exact'])} | {_pct(row['straight_through'])} | "
                         f"{row['accepted_wrong']} = {_pct(row['accepted_error'])} ({_pct(row['accepted_error_95_upper'])}) |")
        lines.append("")
    s = report["speed"]
    lines += ["## Speed", "", f"- pages per minute (reading only, models loaded): {s['pages_per_minute']}",
              f"- model load: {s['model_load_seconds']} s; peak memory: {s['peak_memory_mb']} MB",
              "- seconds per page by stage: " + ", ".join(f"{k} {v}" for k, v in s["seconds_per_page"].items()), ""]
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
