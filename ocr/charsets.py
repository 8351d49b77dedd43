"""Character sets a field's reading is restricted to, by field kind."""

from __future__ import annotations

from functools import lru_cache

from schemas.templates import FieldKind

DIGITS = "0123456789"
PHONE = DIGITS + "-"
# Full-size katakana, small kana, the long-vowel mark and a space between family and given name.
KATAKANA = "".join(chr(c) for c in range(0x30A1, 0x30F7)) + "ー "


@lru_cache(maxsize=1)
def jis_x0208() -> str:
    """Every character of JIS X 0208 (the set names and addresses are written in), plus ASCII digits
    and a space. EUC-JP encodes JIS X 0208 as two bytes, both in 0xA1-0xFE."""
    chars = []
    for hi in range(0xA1, 0xF5):
        for lo in range(0xA1, 0xFF):
            try:
                chars.append(bytes((hi, lo)).decode("euc_jp"))
            except UnicodeDecodeError:
                continue
    # Engines emit ASCII digits and hyphens for handwriting; the normaliser folds full-width ones.
    return "".join(dict.fromkeys([*chars, *DIGITS, "-", " "]))


def charset_for(kind: FieldKind) -> str | None:
    """The characters a field of this kind may contain; None when it is not read by OCR."""
    match kind:
        case FieldKind.digits | FieldKind.postal_code | FieldKind.amount | FieldKind.wareki_date:
            return DIGITS
        case FieldKind.phone:
            return PHONE
        case FieldKind.kana:
            return KATAKANA
        case FieldKind.name_kanji | FieldKind.text:
            return jis_x0208()
        case _:
            return None
