"""A name read without a visible gap gets its space from the list of known surnames, or goes to review."""

from datetime import date

from ocr.decide import EngineText, RawField, decide_field
from ocr.names import NameSplit, split_by_surname, split_name
from ocr.validate import Context, clean_text
from schemas.results import FieldStatus
from schemas.settings import DecisionSettings
from schemas.templates import FieldKind, load_templates

SURNAMES = {"加茂", "加", "中", "中井", "森", "森永", "東海林"}
GIVEN = {"今輔", "一郎", "永一", "一", "太郎"}
FORM = load_templates()["child_allowance"]


def test_the_longest_known_surname_places_the_space():
    """GIVEN 加茂今輔 with 加 and 加茂 both known surnames WHEN split THEN 加茂 今輔."""
    assert split_by_surname("加茂今輔", SURNAMES, GIVEN) == NameSplit("加茂 今輔")
    assert split_by_surname("東海林太郎", SURNAMES, GIVEN) == NameSplit("東海林 太郎")


def test_a_known_given_name_decides_between_surnames():
    """GIVEN 中井一郎 (中 and 中井 known, only 一郎 a given name) WHEN split THEN 中井 一郎."""
    assert split_by_surname("中井一郎", SURNAMES, GIVEN) == NameSplit("中井 一郎")


def test_two_plausible_splits_are_not_guessed():
    """GIVEN 森永一, which is 森 永一 or 森永 一 WHEN split THEN no split, marked ambiguous."""
    assert split_by_surname("森永一", SURNAMES, GIVEN) == NameSplit(None, ambiguous=True)


def test_a_common_given_name_outweighs_a_rare_one():
    """GIVEN 森永一 where only 一 is a common given name WHEN split THEN 森永 一."""
    assert split_by_surname("森永一", SURNAMES, GIVEN, common_given={"一"}) == NameSplit("森永 一")


def test_names_with_a_space_unknown_surnames_and_single_characters_are_left_alone():
    assert split_by_surname("加茂 今輔", SURNAMES, GIVEN) == NameSplit(None)
    assert split_by_surname("鈴木一郎", SURNAMES, GIVEN) == NameSplit(None)
    assert split_by_surname("森", SURNAMES, GIVEN) == NameSplit(None)
    assert split_by_surname("加今輔太郎一", SURNAMES, GIVEN) == NameSplit(None)  # 5 characters left: no given name


def test_a_family_name_alone_is_not_split_into_a_family_and_a_given_name():
    """GIVEN 浜田 read for 浜田 謙 (the given name under a seal on a grey scan) WHEN split THEN not
    浜 田: a known surname alone is a name whose given name was not read, and it goes to review."""
    assert split_by_surname("中井", SURNAMES, GIVEN) == NameSplit(None)
    assert split_name("浜田", "kanji") == NameSplit(None) and split_name("高橋", "kanji") == NameSplit(None)
    f = _decide("浜田")
    assert f.status == FieldStatus.needs_review and f.reasons == ["validator:name_split"]


def test_the_dataset_splits_kanji_and_katakana_names():
    """GIVEN the installed japanese-personal-name-dataset WHEN names without a space are split THEN as written."""
    assert split_name("加茂今輔", "kanji").text == "加茂 今輔"
    assert split_name("長谷川一郎", "kanji").text == "長谷川 一郎"
    assert split_name("ヤマダハナコ", "kana").text == "ヤマダ ハナコ"
    assert split_name("森永一", "kanji").ambiguous


def test_clean_text_places_the_space_only_in_name_fields():
    assert clean_text(FieldKind.name_kanji, "加茂今輔") == "加茂 今輔"
    assert clean_text(FieldKind.kana, "やまだはなこ") == "ヤマダ ハナコ"
    assert clean_text(FieldKind.name_kanji, "加茂 今輔") == "加茂 今輔"
    assert clean_text(FieldKind.text, "加茂今輔") == "加茂今輔"


def _decide(text: str):
    raw = RawField(FORM.field("applicant_name"), {"paddle": EngineText(text, 0.99), "rapid": EngineText(text, 0.99)},
                   {}, True)
    return decide_field(raw, DecisionSettings(), Context(today=date(2026, 11, 27), values={}))


def test_a_name_read_whole_is_accepted_with_its_space():
    """GIVEN both engines read 加茂今輔 (no gap seen) WHEN deciding THEN accepted as 加茂 今輔."""
    f = _decide("加茂今輔")
    assert (f.status, f.value) == (FieldStatus.accepted, "加茂 今輔")


def test_an_ambiguous_name_goes_to_review_with_its_reason():
    """GIVEN both engines read 森永一 WHEN deciding THEN needs_review: 姓と名の区切りが複数考えられます."""
    f = _decide("森永一")
    assert f.status == FieldStatus.needs_review and "validator:name_split_ambiguous" in f.reasons
    assert "姓と名の区切りが複数考えられます" in f.reasons_ja


def test_a_name_part_wider_than_the_kanji_read_there_goes_to_review():
    """
    GIVEN a given name's ink two kanji wide, run together (一宏 written close), both line engines
          reading one kanji there (宏, a valid name: the 一 dropped); the same read as two; and one
          kanji with a speck far off in the box, read as one
    WHEN the part is checked against its ink (`ocr.read._dropped_kanji`)
    THEN only the first is doubted (the field then goes to review: char_count_doubt)
    """
    import numpy as np

    from ocr.engines import Reading
    from ocr.read import _dropped_kanji

    def short(boxes, read):
        crop = np.full((140, 400), 235, np.uint8)
        for x0, y0, x1, y1 in boxes:
            crop[y0:y1, x0:x1] = 40
            crop[y0 + 6 : y1 - 6, x0 + 6 : x1 - 6] = 235  # a square's outline, about a kanji
        said = Reading(read, 0.99, (0.99,) * len(read), 0.9)
        return _dropped_kanji(crop, [said, said])

    run_together = [(20, 30, 100, 110), (90, 30, 170, 110)]  # 150 px wide, 80 tall
    assert short(run_together, "宏")
    assert not short(run_together, "一宏")
    assert not short([(20, 30, 100, 110), (380, 60, 386, 66)], "宏")
