"""`madoguchi process`'s summaries of a batch: summary.json for scripts and a table for the person at
the terminal."""

from __future__ import annotations

import unicodedata
from collections import Counter
from pathlib import Path
from statistics import median

from schemas.results import STATUS_JA, DocumentError, DocumentResult, DocumentStatus


def internal_error(path: Path, exc: Exception) -> DocumentResult:
    """The result of a file that hit a fault of ours: not quarantined (the file is fine as far as we
    know), reported, and read again on the next run."""
    return DocumentResult(source=str(path), sha256="", status=DocumentStatus.rejected, errors=[DocumentError(
        code="internal_error", message=f"{type(exc).__name__}: {exc}",
        message_ja="システムの内部エラーで読み取れませんでした。ファイルはそのまま残っています。管理者に連絡してください。")])


def summarise(results: list[DocumentResult], *, wall: float, model_load: float, quarantine: Path) -> dict:
    """Counts, straight-through rate and per-stage timings of a batch."""
    read = [r for r in results if r.duplicate_of is None]
    docs = Counter(r.status.value for r in read)
    fields = Counter(f.status.value for r in read for f in r.fields.values())
    n_fields = sum(fields.values())
    stages: dict[str, list[float]] = {}
    for r in read:
        if r.status != DocumentStatus.rejected:
            for k, v in r.timings.items():
                stages.setdefault(k, []).append(v)
    per_doc = [sum(r.timings.values()) for r in read if r.status != DocumentStatus.rejected]
    return {
        "documents": len(results),
        "by_status": dict(docs),
        "duplicates": [{"source": r.source, "duplicate_of": r.duplicate_of} for r in results if r.duplicate_of],
        "quarantined": [{"source": r.source, "reason": r.errors[0].code if r.errors else ""}
                        for r in read if r.status == DocumentStatus.rejected and r.sha256],
        "internal_errors": [{"source": r.source, "error": r.errors[0].message} for r in read if not r.sha256],
        "quarantine_dir": str(quarantine),
        "fields": dict(fields),
        "straight_through_rate": round(fields["accepted"] / n_fields, 4) if n_fields else None,
        "review_fields_per_document": round((n_fields - fields["accepted"]) / max(1, len(read) - docs["rejected"]), 2),
        "timings": {
            "model_load_seconds": round(model_load, 3),
            "wall_seconds": round(wall, 3),
            "per_stage_mean_seconds": {k: round(sum(v) / len(v), 4) for k, v in stages.items()},
            "per_document_median_seconds": round(median(per_doc), 3) if per_doc else None,
        },
    }


def fit_width(text: str, width: int) -> str:
    """Cut and pad to a display width, counting full-width characters as two columns."""
    out, used = "", 0
    for ch in text:
        w = 2 if unicodedata.east_asian_width(ch) in "WF" else 1
        if used + w > width:
            break
        out, used = out + ch, used + w
    return out + " " * (width - used)


def print_table(results: list[DocumentResult], summary: dict, out: Path) -> None:
    """A table a clerk can read, then where the files are."""
    print(f"{fit_width('ファイル', 40)} {fit_width('様式', 26)} {fit_width('状態', 12)} 確定/項目数")
    for r in results:
        name = Path(r.source).name
        if r.duplicate_of:
            state = "重複(読取済)"
        else:
            state = STATUS_JA.get(r.status.value, r.status.value)
        ok = sum(f.status.value == "accepted" for f in r.fields.values())
        title = r.form_title or r.form or "-"
        detail = f"{ok}/{len(r.fields)}" if r.fields else (r.errors[0].message_ja if r.errors else "")
        print(f"{fit_width(name, 40)} {fit_width(title, 26)} {fit_width(state, 12)} {detail}")
    stp = summary["straight_through_rate"]
    print(f"\n項目の自動確定率: {stp:.1%}" if stp is not None else "")
    print(f"読取結果: {out.resolve()}/ (書類ごとのJSONと summary.json)")
    if summary["quarantined"]:
        print(f"読取不可のファイル: {summary['quarantine_dir']}/ (理由は各 .reason.txt)")
    if summary["internal_errors"]:
        print(f"内部エラー {len(summary['internal_errors'])} 件: ファイルは元の場所に残っています。ログを確認してください。")
