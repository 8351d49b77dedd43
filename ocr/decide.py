"""The decision per field: accepted, needs_review or invalid, with machine-readable reasons.

A field is accepted only on combined evidence: every reader returns the same value after
normalisation, every validator passes, and every reader's lowest character probability reaches
the kind's threshold. Engine confidence alone is not trusted (DESIGN.md: wrong readings come back
at 0.999).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ocr.validate import CROSS_FIELD, Context, clean_text, to_value, validate, wareki_to_date
from schemas.results import FieldResult, FieldStatus, reasons_ja
from schemas.settings import DecisionSettings
from schemas.templates import ERAS, FieldKind, FieldSpec

TICK_KINDS = (FieldKind.checkbox, FieldKind.choice)
UNREAD = "?"  # stands for an inked cell an engine returned nothing for
# validator failures that mean the applicant wrote an impossible value, not that we misread it
APPLICANT_SIDE = {"postal_code_exists", "address_matches_postal_code", "date_invalid", "date_plausible",
                  "date_past", "date_recent", "date_future"}


@dataclass(frozen=True)
class EngineText:
    """One engine's reading of a whole field; a date is "YY|MM|DD" (its three parts' cells)."""

    text: str
    confidence: float


@dataclass(frozen=True)
class RawField:
    """Everything read from one field, before any decision."""

    spec: FieldSpec
    texts: dict[str, EngineText] = field(default_factory=dict)
    ink: dict[str, float] = field(default_factory=dict)  # tick square / era area -> ink share
    has_ink: bool = False  # ink in the writing cells
    flags: tuple[str, ...] = ()  # reasons for review found while reading (a seal over the field)


def _result(spec: FieldSpec, value, status, conf, reasons, readings) -> FieldResult:
    return FieldResult(
        value=value,
        status=status,
        confidence=round(min(max(conf, 0.0), 1.0), 4),
        reasons=reasons,
        reasons_ja=reasons_ja(reasons),
        readings=readings,
        label=spec.label,
        kind=spec.kind.value,
    )


def _tick_confidence(ink: float, cfg: DecisionSettings) -> float:
    """How far the ink is from the doubtful band, 0.5 at its edge, 1.0 far away."""
    if ink >= cfg.tick_ink:
        return min(1.0, 0.5 + (ink - cfg.tick_ink) / (2 * cfg.tick_ink))
    return min(1.0, 0.5 + (cfg.tick_doubt - ink) / (2 * cfg.tick_doubt)) if ink < cfg.tick_doubt else 0.3


def _pick_tick(ink: dict[str, float], cfg: DecisionSettings) -> tuple[str | None, float, list[str]]:
    """Which one box is ticked: (name or None, confidence, reasons)."""
    ticked = [n for n, v in ink.items() if v >= cfg.tick_ink]
    doubtful = [n for n, v in ink.items() if cfg.tick_doubt <= v < cfg.tick_ink]
    conf = min((_tick_confidence(v, cfg) for v in ink.values()), default=1.0)
    if len(ticked) > 1:
        return None, conf, ["multiple_choices"]
    if doubtful:
        return (ticked[0] if ticked else None), conf, ["tick_unclear"]
    return (ticked[0] if ticked else None), conf, []


def decide_tick(raw: RawField, cfg: DecisionSettings) -> FieldResult:
    spec = raw.spec
    readings = {"ink": ",".join(f"{k}:{v:.3f}" for k, v in raw.ink.items())}
    name, conf, reasons = _pick_tick(raw.ink, cfg)
    if spec.kind == FieldKind.checkbox:
        value: object = name is not None
    else:
        value = name
        if name is None and not reasons and spec.required:
            reasons = ["empty_required"]
    status = FieldStatus.needs_review if reasons else FieldStatus.accepted
    return _result(spec, value, status, conf, reasons, readings)


def _date_value(era: str | None, text: str) -> object:
    """ISO date from "YY|MM|DD" and the era, or the raw text when it is no date."""
    parts = [clean_text(FieldKind.digits, p) for p in text.split("|")]
    if len(parts) != 3 or not all(p.isdigit() for p in parts) or era is None:
        return None if not any(parts) else "|".join(parts)
    d = wareki_to_date(era, *(int(p) for p in parts))
    return d.isoformat() if d else f"{ERAS[era]}{parts[0]}年{parts[1]}月{parts[2]}日"


def _engine_value(raw: RawField, text: str, era: str | None) -> object:
    spec = raw.spec
    if spec.kind == FieldKind.wareki_date:
        return _date_value(era, text)
    return to_value(spec, clean_text(spec.kind, text))


def _era(raw: RawField, cfg: DecisionSettings) -> tuple[str | None, float, list[str]]:
    if len(raw.spec.eras) == 1:
        return raw.spec.eras[0], 1.0, []
    era, conf, reasons = _pick_tick(raw.ink, cfg)
    if era is None and not reasons:
        reasons = ["era_unclear"]
    return era, conf, reasons


def _best(values: dict[str, object], confs: dict[str, float], failures: dict[str, list[str]]) -> str:
    """The engine whose reading to show: one that read something, then one that validates, then
    the most confident."""
    return max(values, key=lambda e: (values[e] is not None, not failures[e], confs[e]))


def decide_text(raw: RawField, cfg: DecisionSettings, ctx: Context) -> FieldResult:
    spec = raw.spec
    era, era_conf, era_reasons = _era(raw, cfg) if spec.kind == FieldKind.wareki_date else (None, 1.0, [])
    values = {e: _engine_value(raw, t.text, era) for e, t in raw.texts.items()}
    confs = {e: t.confidence for e, t in raw.texts.items()}
    failures = {e: (validate(spec, v, ctx) if v is not None else []) for e, v in values.items()}
    readings = {e: (None if v is None else str(v)) for e, v in values.items()}
    if len(values) < cfg.min_readers:
        return _result(spec, None, FieldStatus.needs_review, 0.0, ["single_reader"], readings)
    best = _best(values, confs, failures)
    value = values[best]
    if all(v is None for v in values.values()):
        if raw.has_ink:
            return _result(spec, None, FieldStatus.needs_review, 0.0, ["unread_ink"], readings)
        if spec.required:
            return _result(spec, None, FieldStatus.needs_review, 0.0, ["empty_required"], readings)
        return _result(spec, None, FieldStatus.accepted, 1.0, [], readings)
    reasons = list(era_reasons) + list(raw.flags)
    if any(UNREAD in t.text for t in raw.texts.values()):
        reasons.append("unread_ink")
    agree = len({repr(v) for v in values.values()}) == 1
    conf = min(min(confs.values()), era_conf) if agree else confs[best] * 0.5
    if not agree:
        reasons.append("engines_disagree")
    threshold = spec.threshold if spec.threshold is not None else cfg.thresholds.get(spec.kind.value, 0.9)
    confident = agree and min(confs.values()) >= threshold
    if agree and not confident:
        reasons.append("low_confidence")
    if failures[best]:
        # "invalid" means the applicant wrote something impossible, so only for a reading every
        # engine agrees on with confidence, and only for checks a misreading cannot explain away
        applicant = confident and not reasons and set(failures[best]) <= APPLICANT_SIDE
        reasons += [f"validator:{f}" for f in failures[best]]
        return _result(spec, value, FieldStatus.invalid if applicant else FieldStatus.needs_review, conf, reasons, readings)
    status = FieldStatus.needs_review if reasons else FieldStatus.accepted
    return _result(spec, value, status, conf, reasons, readings)


def decide_field(raw: RawField, cfg: DecisionSettings, ctx: Context) -> FieldResult:
    """Decide one field."""
    if raw.spec.kind in TICK_KINDS:
        return decide_tick(raw, cfg)
    return decide_text(raw, cfg, ctx)


def decide_fields(raws: list[RawField], cfg: DecisionSettings, ctx: Context) -> dict[str, FieldResult]:
    """Decide every field of a page. Cross-field validators (address vs postal code) run last and
    see only the values accepted elsewhere on the page."""
    cross = [r for r in raws if any(v in CROSS_FIELD for v in r.spec.validators)]
    out = {r.spec.name: decide_field(r, cfg, ctx) for r in raws if r not in cross}
    accepted = {n: f.value for n, f in out.items() if f.status == FieldStatus.accepted}
    ctx2 = Context(today=ctx.today, values=accepted)
    for r in cross:
        out[r.spec.name] = decide_field(r, cfg, ctx2)
    return {r.spec.name: out[r.spec.name] for r in raws}
