"""What the reviewers' corrections are good for, without Prefect: the review queue as a list,
training data in PaddleOCR's recognition format, and thresholds recalibrated per field kind."""

from __future__ import annotations

import json
import shutil
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ocr.certify import certify
from schemas.db import Correction, Store

TEXT_KINDS = {"text", "name_kanji", "kana", "digits", "amount", "phone", "postal_code"}  # one written line each


def queue(store: Store, titles: dict[str, str], ui: str) -> list[dict]:
    """Documents waiting for a reviewer, oldest first."""
    now = datetime.now(UTC)
    open_reviews = {r.document_id: r for r in store.reviews("open")}
    out = []
    for doc in store.documents("needs_review"):
        since = doc.created_at.replace(tzinfo=doc.created_at.tzinfo or UTC)
        review = open_reviews.get(doc.id)
        out.append({
            "document_id": doc.id, "source": doc.source, "form": doc.form, "form_title": titles.get(doc.form, doc.form),
            "fields": sum(f.status != "accepted" for f in store.fields_of(doc.id)),
            "waiting_since": since.isoformat(), "age_hours": round((now - since).total_seconds() / 3600, 1),
            "review_run": review.flow_run_id if review else None,
            "url": f"{ui}/v2/runs/flow-run/{review.flow_run_id}" if review else None,
        })
    return out


def export_training(store: Store, views: Path, out: Path) -> int:
    """Reviewed single-line fields as PaddleOCR recognition training data: `images/*.png` and
    `rec_gt.txt` lines `images/<file>\\t<text>` (the text as the reviewer confirmed it). Dates and
    ticks are left out: their images hold more than the text says. Returns the number of lines."""
    (out / "images").mkdir(parents=True, exist_ok=True)
    docs = {}
    lines = []
    latest = {(c.document_id, c.field): c for c in store.corrections()}  # a field decided twice: the last word
    for c in latest.values():
        if c.kind not in TEXT_KINDS or c.after is None:
            continue
        doc = docs.get(c.document_id) or docs.setdefault(c.document_id, store.document(c.document_id))
        image = views / doc.sha256[:16] / f"{c.field}.png"
        if not image.exists():
            continue
        name = f"{doc.sha256[:16]}-{c.field}.png"
        shutil.copy2(image, out / "images" / name)
        text = str(json.loads(c.after)).replace("\t", " ").replace("\n", " ")
        lines.append(f"images/{name}\t{text}")
    (out / "rec_gt.txt").write_text("\n".join(lines) + ("\n" if lines else ""), encoding="utf-8")
    return len(lines)


@dataclass(frozen=True)
class Calibration:
    kind: str
    reviewed: int  # fields of this kind the readers agreed on and reviewers looked at
    changed: int
    threshold: float | None  # the lowest one meeting the target, None when the data cannot show it
    accepted_at_threshold: int
    errors_at_threshold: int
    upper: float | None  # 95% upper bound of the error rate among those


def calibrate(corrections: list[Correction], max_error: float) -> list[Calibration]:
    """Per kind, the lowest threshold whose accepted set (reviewed fields at or above it whose only
    doubt was a confidence below today's threshold) has an error within `max_error` with 95%
    confidence, certified as `ocr.certify` does (exact binomial bound, thresholds tested strictest
    first). A reviewer who changed the value marks an error. With few corrections no threshold can
    be shown safe: None."""
    by_kind: dict[str, list[Correction]] = defaultdict(list)
    for c in corrections:
        if c.source == "review" and c.reasons == "low_confidence":  # readers agreed, checks passed
            by_kind[c.kind].append(c)
    out = []
    for kind, rows in sorted(by_kind.items()):
        cert = certify([c.confidence for c in rows], [bool(c.changed) for c in rows], max_error)
        out.append(Calibration(kind, len(rows), sum(c.changed for c in rows),
                               None if cert.threshold is None else round(cert.threshold, 4), cert.accepted,
                               cert.errors, None if cert.upper is None else round(cert.upper, 4)))
    return out
