"""Calibration from reviewers' corrections and the training export, on hand-made records."""

from __future__ import annotations

from flows.reports.learn import calibrate
from schemas.db import Correction


def _c(kind: str, conf: float, changed: bool, reasons: str = "low_confidence", **kw) -> Correction:
    return Correction(**{"document_id": 1, "field": "f", "kind": kind, "status_before": "needs_review",
                         "confidence": conf, "reasons": reasons, "changed": changed, **kw})


def test_calibration_needs_enough_clean_reviews_before_it_lowers_a_threshold():
    """GIVEN 4000 confirmed digit fields at 0.90-0.98 and a wrong one at 0.5 WHEN calibrating for 0.1%
    THEN the threshold lands above the wrong one; 100 clean reviews cannot show 0.1% (upper bound ~3.7%)."""
    rows = [_c("digits", 0.90 + (i % 80) / 1000, False) for i in range(4000)] + [_c("digits", 0.5, True)]
    rows += [_c("kana", 0.9, False) for _ in range(100)]
    rows += [_c("text", 0.99, False, reasons="engines_disagree")]  # not a confidence question: ignored
    by_kind = {r.kind: r for r in calibrate(rows, max_error=0.001)}
    digits = by_kind["digits"]
    assert digits.reviewed == 4001 and digits.changed == 1
    assert digits.threshold == 0.9 and digits.accepted_at_threshold == 4000 and digits.errors_at_threshold == 0
    assert digits.upper <= 0.001
    assert by_kind["kana"].threshold is None  # 0 errors in 100 is not evidence of 0.1%
    assert "text" not in by_kind


def test_a_changed_value_counts_as_an_error_of_the_reading():
    rows = [_c("phone", 0.95, True)] + [_c("phone", 0.9, False) for _ in range(10)]
    [phone] = calibrate(rows, max_error=0.5)
    assert phone.changed == 1 and phone.threshold is not None and phone.threshold <= 0.9


def test_a_reviewer_enters_dates_in_wareki_and_sees_them_so():
    """The form shows a date as 令和8年11月27日 and reads back what a reviewer types, 元年 included."""
    from datetime import date

    from flows.verify import BLANK, parse, shown, to_wareki
    from schemas.templates import load_templates

    spec = next(f for f in load_templates()["child_allowance"].fields if f.kind.value == "wareki_date")
    assert to_wareki(date(2026, 11, 27)) == "令和8年11月27日" and to_wareki(date(2019, 5, 1)) == "令和元年5月1日"
    assert shown(spec, "1993-07-21") == "平成5年7月21日"
    assert parse(spec, "平成5年7月21日") == ("1993-07-21", None)
    assert parse(spec, "令和元年５月１日") == ("2019-05-01", None)  # full-width digits
    assert parse(spec, "1993-07-21") == ("1993-07-21", None)
    assert parse(spec, "令和7年2月30日") == (None, "存在しない日付です")
    assert parse(spec, BLANK) == (None, None)


def test_reviewed_fields_export_as_paddleocr_recognition_data(tmp_path):
    """GIVEN a reviewed name (corrected), a reviewed date and a tick WHEN exported THEN rec_gt.txt has
    one `images/<file>\\t<text>` line, for the name, with the reviewer's text, and the image is there."""
    import cv2
    import numpy as np

    from flows.reports.learn import export_training
    from schemas.db import Store
    from schemas.results import DocumentResult, DocumentStatus

    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    sha = "ab" * 32
    doc_id = store.save(DocumentResult(source="x.png", sha256=sha, form="child_allowance", pages=1,
                                       status=DocumentStatus.needs_review))
    views = tmp_path / "views"
    (views / sha[:16]).mkdir(parents=True)
    for name in ("applicant_name", "birth_date", "sex"):
        cv2.imwrite(str(views / sha[:16] / f"{name}.png"), np.full((40, 200), 255, np.uint8))
    with store.session() as s, s.begin():
        s.add(_c("name_kanji", 0.6, True, document_id=doc_id, field="applicant_name", after='"山田 花了"'))
        # the core system refused the record and a second review put the name right: its word counts
        s.add(_c("name_kanji", 0.6, True, document_id=doc_id, field="applicant_name", after='"山田 花子"',
                 source="core_system"))
        s.add(_c("wareki_date", 0.6, False, document_id=doc_id, field="birth_date", after='"1993-07-21"'))
        s.add(_c("choice", 0.6, False, document_id=doc_id, field="sex", after='"male"'))
    assert export_training(store, views, tmp_path / "train") == 1
    line = (tmp_path / "train" / "rec_gt.txt").read_text(encoding="utf-8").strip()
    image, text = line.split("\t")
    assert text == "山田 花子" and (tmp_path / "train" / image).exists()
