"""Where the family name ends in a name read without a visible gap, from lists of known names.

The reader splits a name at the widest blank gap; when the applicant left none, the reading comes
back whole ("加茂今輔") and the core system cannot take family and given name apart. A known
surname at the start places the space, but only where one split is plainly the right one.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from functools import lru_cache

import jaconv

MAX_GIVEN = 4  # characters: a given name longer than this after a known surname is no name


@dataclass(frozen=True)
class NameSplit:
    """Where to put the space: `text` with it, or None; `ambiguous` when two splits are plausible."""

    text: str | None
    ambiguous: bool = False


def split_by_surname(
    name: str, surnames: Collection[str], given_names: Collection[str], common_given: Collection[str] = ()
) -> NameSplit:
    """Place the space between family and given name of a name written without one.

    Candidates are the known surnames the name starts with that leave 1..MAX_GIVEN characters. A
    candidate whose rest is a common given name is plausible; when none is, one whose rest is any
    known given name. One plausible candidate wins; two or more are ambiguous (never guessed).
    With none plausible, the longest surname wins, unless the whole name is itself a surname: then
    it is a family name whose given name was not read, and is not split.

    Args:
        name: the name as read, without a space ("加茂今輔").
        surnames: known family names in the script of `name` (kanji, or katakana readings).
        given_names: known given names in the same script, every spelling ever registered.
        common_given: the popular ones among them (高橋司 is 高橋 司, not 高 橋司).

    Returns:
        NameSplit("加茂 今輔"); NameSplit(None) when no known surname starts the name, the name
        already has a space, or it is a surname alone; NameSplit(None, ambiguous=True) when two splits are plausible.
    """
    if " " in name or len(name) < 2:
        return NameSplit(None)
    cuts = [k for k in range(1, len(name)) if len(name) - k <= MAX_GIVEN and name[:k] in surnames]
    if not cuts:
        return NameSplit(None)
    plausible = [k for k in cuts if name[k:] in common_given] or [k for k in cuts if name[k:] in given_names]
    if len(plausible) > 1:
        return NameSplit(None, ambiguous=True)
    if not plausible and name in surnames:
        return NameSplit(None)  # a family name alone (浜田, 高橋): the given name is missing, or under a seal
    k = plausible[0] if plausible else max(cuts)
    return NameSplit(f"{name[:k]} {name[k:]}")


Names = tuple[frozenset[str], frozenset[str], frozenset[str]]  # surnames, given names, common given names


@lru_cache(maxsize=1)
def _dataset() -> tuple[dict, dict, dict]:
    """`japanese-personal-name-dataset`'s "org" lists: men's and women's given names by reading,
    surnames by kanji; loaded once, on first use."""
    import japanese_personal_name_dataset as jpn

    return jpn.load_dataset("org", include_last_names=True)


@lru_cache(maxsize=1)
def known_names() -> dict[str, Names]:
    """Surnames, given names and common given names of `japanese-personal-name-dataset` (its
    "org" and "opti" lists), in kanji and in katakana; loaded once, on first use (~0.2 s)."""
    import japanese_personal_name_dataset as jpn

    men, women, last = _dataset()
    popular_men, popular_women = jpn.load_dataset("opti")
    given = [e for table in (men, women) for e in table.items()]
    common = [e for table in (popular_men, popular_women) for e in table.items()]
    return {
        "kanji": (
            frozenset(last),
            frozenset(k for _, e in given for k in e["kanji"]),
            frozenset(k for _, e in common for k in e["kanji"]),
        ),
        "kana": (
            frozenset(jaconv.hira2kata(v["reading"]) for v in last.values() if v["reading"]),
            frozenset(jaconv.hira2kata(reading) for reading, _ in given),
            frozenset(jaconv.hira2kata(reading) for reading, _ in common),
        ),
    }


def split_name(name: str, script: str) -> NameSplit:
    """`split_by_surname` with the dataset's names; `script` is "kanji" or "kana" (katakana)."""
    return split_by_surname(name, *known_names()[script])


@lru_cache(maxsize=1)
def _readings() -> tuple[dict[str, str], dict[str, frozenset[str]]]:
    """Katakana readings by kanji: each surname's one reading, each given name's every reading."""
    men, women, last = _dataset()
    family = {k: jaconv.hira2kata(v["reading"]) for k, v in last.items() if v["reading"]}
    given: dict[str, set[str]] = {}
    for table in (men, women):
        for reading, entry in table.items():
            for k in entry["kanji"]:
                given.setdefault(k, set()).add(jaconv.hira2kata(reading))
    return family, {k: frozenset(v) for k, v in given.items()}


def reading_matches(kana: str, name: str) -> bool:
    """True when `kana` ("ナカガワ アキホ") is, part by part, a reading that the name lists give for
    `name` ("中川 亜希穂"): the surname's reading and one of the given name's. False where either part
    is unknown, so a name the lists lack is no evidence either way."""
    k, n = kana.split(" "), name.split(" ")
    if len(k) != 2 or len(n) != 2:
        return False
    family, given = _readings()
    return family.get(n[0]) == k[0] and k[1] in given.get(n[1], ())
