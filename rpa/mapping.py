"""From a document's validated values to what is typed on a screen, and to what the confirmation
screen must then show. Pure data work: no browser here."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date

from schemas.entry import EntryMapping
from schemas.templates import ERAS, FormTemplate, wareki_parts, wareki_text


@dataclass(frozen=True)
class Fill:
    """One input to set. value: text (str), date ((era label, year, month, day) or None),
    select (option label or None), checkbox (bool); `shown` is what the confirmation screen must say."""

    label: str
    how: str
    value: object
    shown: str


def fills(mapping: EntryMapping, template: FormTemplate, values: dict[str, object], key: str) -> list[Fill]:
    """What to type, in the screen's order as the mapping lists it, with the key last."""
    out = []
    for fm in mapping.fields:
        how, v = mapping.how(fm, template), values.get(fm.source)
        if how == "date":
            d = date.fromisoformat(str(v)) if v else None
            parts = None if d is None else (ERAS[wareki_parts(d)[0]], wareki_parts(d)[1], d.month, d.day)
            out.append(Fill(fm.target, how, parts, "" if d is None else wareki_text(d)))
        elif how == "select":
            labels = fm.options or {o.name: o.label for o in template.field(fm.source).options}
            label = None if v is None else labels[str(v)]
            out.append(Fill(fm.target, how, label, label or ""))
        elif how == "checkbox":
            out.append(Fill(fm.target, how, bool(v), mapping.checked_text if v else mapping.unchecked_text))
        else:
            text = "" if v is None else str(v)
            out.append(Fill(fm.target, how, text, text))
    text = mapping.key_text.format(key=key)
    out.append(Fill(mapping.key_target, "text", text, text))
    return out


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text)).strip()


def differences(expected: list[Fill], screen: dict[str, str]) -> list[str]:
    """Labels whose confirmation text differs from what was typed (widths and spaces folded)."""
    return [f.label for f in expected if _norm(screen.get(f.label, "")) != _norm(f.shown)]
