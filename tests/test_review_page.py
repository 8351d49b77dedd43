"""The page a reviewer reads beside the form (`flows.verify.markdown`), without a server."""

from __future__ import annotations

from schemas.templates import load_templates

FORM = load_templates()["long_term_care"]


def test_the_characters_the_readers_read_differently_are_marked_in_each_reading(tmp_path):
    """
    GIVEN a phone number read 090-3068-1373 by the digit reader and rapid and 050-3008-1373 by paddle,
          a kana name where one line engine dropped a small ノ, and a name all readers read alike
    WHEN the review page is written
    THEN each reading shows the characters where it differs from the others as code (the 5 and 0 of
          paddle's, the 9 and 6 of the other two); the ノ is marked in the reading that has it; the
          readings that agree carry no mark; a hyphen can be marked as well as a digit
    """
    from flows.verify import Item, markdown, marked_readings
    from schemas.db import Document, FieldValue

    def item(name: str, readings: dict[str, str | None], value: str) -> Item:
        spec = FORM.field(name)
        row = FieldValue(document_id=1, name=name, label=spec.label, kind=spec.kind.value, value=f'"{value}"',
                         status="needs_review", confidence=0.5)
        return Item(spec, row, readings, tmp_path / f"{name}.png")

    doc = Document(sha256="0" * 64, source="scan.jpg", form=FORM.id, status="needs_review")
    items = [item("phone", {"digit": "090-3068-1373", "paddle": "050-3008-1373", "rapid": "090-3068-1373"},
                  "090-3068-1373"),
             item("kana", {"paddle": "コシバ スエブ", "rapid": "コシバ スエノブ"}, "コシバ スエノブ"),
             item("name", {"paddle": "小柴 末信", "rapid": "小柴 末信"}, "小柴 末信")]
    text = markdown(doc, FORM, items, {})
    assert "- 読取結果: digit: 「0`9`0-30`6`8-1373」、paddle: 「0`5`0-30`0`8-1373」、rapid: 「0`9`0-30`6`8-1373」" in text
    assert "- 読取結果: paddle: 「コシバ スエブ」、rapid: 「コシバ スエ`ノ`ブ」" in text
    assert "- 読取結果: paddle: 「小柴 末信」、rapid: 「小柴 末信」" in text
    assert "`このように`" in text  # the page says what the marks mean
    assert marked_readings({"paddle": "0833-41-6889", "rapid": "0833-416889", "digit": None}) == {
        "digit": "", "paddle": "0833-41`-`6889", "rapid": "0833-416889"}
