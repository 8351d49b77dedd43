"""From a document's validated values to what is typed on a screen, and to what the confirmation
screen must then show. Pure data work: no browser here."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date

from schemas.entry import EntryMapping
from schemas.templates import ERAS, FormTemplate, wareki_parts


@dataclass(frozen=True)
class Fill:
    """One input to set. value: text (str), date ((era label, year, month, day) or None),
    select (option label or None), checkbox (bool)."""

    label: str
    how: str
    value: object


def fills(mapping: EntryMapping, template: FormTemplate, values: dict[str, object], key: str) -> list[Fill]:
    """What to type, in the screen's order as the mapping lists it, with the key last."""
    out = []
    for fm in mapping.fields:
        how, v = mapping.how(fm, template), values.get(fm.source)
        if how == "date":
            d = date.fromisoformat(str(v)) if v else None
            out.append(Fill(fm.target, how, None if d is None else (ERAS[wareki_parts(d)[0]], wareki_parts(d)[1],
                                                                     d.month, d.day)))
        elif how == "select":
            labels = fm.options or {o.name: o.label for o in template.field(fm.source).options}
            out.append(Fill(fm.target, how, None if v is None else labels[str(v)]))
        elif how == "checkbox":
            out.append(Fill(fm.target, how, bool(v)))
        else:
            out.append(Fill(fm.target, how, "" if v is None else str(v)))
    out.append(Fill(mapping.key_target, "text", mapping.key_text.format(key=key)))
    return out


def shown(fill: Fill, mapping: EntryMapping) -> str:
    """The text the confirmation screen should show for a fill."""
    if fill.how == "checkbox":
        return mapping.checked_text if fill.value else mapping.unchecked_text
    if fill.how == "date":
        if fill.value is None:
            return ""
        era, y, m, d = fill.value
        return f"{era}{'元' if y == 1 else y}年{m}月{d}日"
    return "" if fill.value is None else str(fill.value)


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text)).strip()


def differences(expected: list[Fill], mapping: EntryMapping, screen: dict[str, str]) -> list[str]:
    """Labels whose confirmation text differs from what was typed (widths and spaces folded)."""
    return [f.label for f in expected if _norm(screen.get(f.label, "")) != _norm(shown(f, mapping))]
