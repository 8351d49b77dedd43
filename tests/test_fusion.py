"""The digit reader's cell probabilities weighed with the line engines' readings (ocr.fusion)."""

from datetime import date

import numpy as np

from ocr.decide import EngineText, RawField, decide_field
from ocr.digit_reader import reading_of
from ocr.engines import Reading
from ocr.fusion import fuse_cell
from ocr.validate import Context
from schemas.results import FieldStatus
from schemas.settings import DecisionSettings
from schemas.templates import load_templates
from tests.test_decide import cells, dated, weighed

# the weighing on (off by default: README, "The decision rule"), "not a digit" as the network was trained:
# the line weighing was measured so (its tests below), the paper's share of marks is tested on its own
CFG = DecisionSettings(line_weight=0.5, not_a_digit_weight=1.0)
CTX = Context(today=date(2026, 11, 27), values={})
FORMS = load_templates()


def digit_cell(probs: dict[int, float]) -> Reading:
    """The digit reader's reading of one cell from its class probabilities (10 = not a digit)."""
    p = np.full(11, 1e-5)
    for k, q in probs.items():
        p[k] = q
    return reading_of(p / p.sum())


def line_cell(text: str, conf: float) -> Reading:
    return Reading(text, conf, (conf,), conf)


def field(form: str, name: str, digit: list[Reading], paddle: str, rapid: str, line_conf: float = 1.0) -> RawField:
    texts = {
        "paddle": EngineText(paddle, line_conf, tuple(line_cell(c, line_conf) for c in paddle)),
        "rapid": EngineText(rapid, line_conf, tuple(line_cell(c, line_conf) for c in rapid)),
        "digit": EngineText("".join(c.text or "?" for c in digit), min(c.confidence for c in digit), tuple(digit)),
    }
    return RawField(FORMS[form].field(name), texts, {}, True)


def sure(text: str) -> list[Reading]:
    return [digit_cell({int(c): 0.999}) for c in text]


def test_two_line_engines_sure_of_the_digit_the_reader_doubts_make_it_sure():
    """
    GIVEN a cell the digit reader reads as 4 at 0.90 (9 at 0.10) and both line engines read as 4 at 1.00
    WHEN weighing
    THEN 4, far surer than the vote threshold
    """
    cell = fuse_cell(digit_cell({4: 0.90, 9: 0.10}), [line_cell("4", 1.0), line_cell("4", 1.0)], CFG, boxed=False)
    assert cell.text == "4" and cell.confidence > 0.99


def test_line_engines_never_outweigh_a_digit_reader_sure_of_another_digit():
    """
    GIVEN the digit reader sure of 7 (0.999) where both line engines read 1 at 0.999
    WHEN weighing
    THEN still 7, but no longer sure enough to accept on (their 1 counts, capped at 1 - line_error)
    """
    cell = fuse_cell(digit_cell({7: 0.999, 1: 0.001}), [line_cell("1", 0.999), line_cell("1", 0.999)], CFG, boxed=False)
    assert cell.text == "7" and 0.5 < cell.confidence < CFG.vote_thresholds["digits"]


def test_not_a_digit_stays_not_a_digit_and_silent_cells_change_nothing():
    """
    GIVEN a cell the digit reader calls not a digit (0.9999, and 0.99) that both line engines read
          as 1 at 0.99; and a cell no line engine read a digit in
    WHEN weighing
    THEN the first is still no digit; the second a 1 far from sure enough to accept; the third keeps
         the reader's own probabilities
    """
    line = [line_cell("1", 0.99)] * 2
    assert fuse_cell(digit_cell({10: 0.9999, 1: 0.0001}), line, CFG, boxed=False).text == ""
    assert fuse_cell(digit_cell({10: 0.99, 1: 0.01}), line, CFG, boxed=False).confidence < 0.8
    alone = digit_cell({3: 0.8, 8: 0.2})
    same = fuse_cell(alone, [None, line_cell("", 0.0)], CFG, boxed=False)
    assert same.text == "3" and abs(same.confidence - alone.confidence) < 1e-6


def test_a_field_all_three_read_alike_is_accepted_where_the_reader_alone_doubted_one_cell():
    """
    GIVEN an account number all three readers read 8304986, the digit reader at 0.90 on one cell,
          the line engines at 0.98 (below their own threshold of 0.99)
    WHEN deciding with the weighing, and with it turned off (line_weight 0)
    THEN accepted with it; without it the field went to review for low confidence (the rule before);
         the reviewer still sees what the digit reader read by itself
    """
    digit = sure("830") + [digit_cell({4: 0.90, 9: 0.10})] + sure("986")
    raw = field("child_allowance", "account_number", digit, "8304986", "8304986", line_conf=0.98)
    f = decide_field(raw, CFG, CTX)
    assert (f.status, f.value) == (FieldStatus.accepted, "8304986")
    off = decide_field(raw, CFG.model_copy(update={"line_weight": 0.0}), CTX)
    assert off.status == FieldStatus.needs_review and off.reasons == ["low_confidence"]


def test_a_line_engine_sure_of_another_digit_still_stands_against_the_weighed_vote():
    """
    GIVEN the digit reader sure of 1 in a cell (the others sure) that rapid reads as 7 at 0.92 and
          paddle as 1 at 0.70 (a year written 7 that looks like 1)
    WHEN deciding
    THEN review: the weighing does not remove the rule that a sure opposing reading (`opposed`, 0.9)
         is no backing
    """
    digit = [digit_cell({1: 0.998, 7: 0.001})] + sure("814")
    texts = {
        "paddle": EngineText("1814", 0.7, (line_cell("1", 0.70),) + tuple(line_cell(c, 1.0) for c in "814")),
        "rapid": EngineText("7814", 0.92, (line_cell("7", 0.92),) + tuple(line_cell(c, 1.0) for c in "814")),
        "digit": EngineText("1814", 0.998, tuple(digit)),
    }
    # four boxes of digits and no master to check them against (the bank code's own, tests/test_banks.py)
    spec = FORMS["child_allowance_claim"].field("bank_code").model_copy(update={"validators": []})
    f = decide_field(RawField(spec, texts, {}, True), CFG, CTX)
    assert f.status == FieldStatus.needs_review and "engines_disagree" in f.reasons


def test_hesitant_line_engines_do_not_make_a_hesitant_digit_reader_sure():
    """
    GIVEN a 9 written open at the top: the digit reader 4 at 0.57 (9 at 0.25), both line engines 4
          at 0.76 and 0.83 (below line_floor), as on held-out training digits
    WHEN weighing
    THEN the line engines count for nothing: still 0.57, so the field goes to review
    """
    cell = fuse_cell(digit_cell({4: 0.57, 9: 0.25, 1: 0.08, 10: 0.07}), [line_cell("4", 0.76), line_cell("4", 0.83)], CFG, boxed=False)
    assert cell.text == "4" and cell.confidence < 0.6


def test_the_weighing_is_off_unless_asked_for():
    """
    GIVEN the default settings and the account number of the test above (one cell the digit reader
          gives 0.90, all three readers alike)
    WHEN deciding
    THEN review for low confidence, as before the weighing existed
    """
    digit = sure("830") + [digit_cell({4: 0.90, 9: 0.10})] + sure("986")
    f = decide_field(field("child_allowance", "account_number", digit, "8304986", "8304986", line_conf=0.98),
                     DecisionSettings(), CTX)
    assert f.status == FieldStatus.needs_review and f.reasons == ["low_confidence"]


def test_a_clear_digit_half_taken_for_not_a_digit_is_read_at_the_papers_share_of_marks():
    """
    GIVEN an account number all three readers read 8304986, the line engines at 0.98 (below their
          own threshold), the digit reader giving the last 6 0.88 and "not a digit" 0.12 (a bold 6:
          "not a digit" was the runner-up of 93 of the 140 held-out MNIST training digits the
          reader read right below 0.95)
    WHEN deciding with the default settings, and with "not a digit" taken as trained (weight 1)
    THEN accepted by default (0.88 against 0.03 is 0.967); as trained, review for low confidence
    """
    digit = sure("830498") + [digit_cell({6: 0.88, 10: 0.12})]
    raw = field("child_allowance", "account_number", digit, "8304986", "8304986", line_conf=0.98)
    f = decide_field(raw, DecisionSettings(), CTX)
    assert (f.status, f.value) == (FieldStatus.accepted, "8304986")
    trained = decide_field(raw, DecisionSettings(not_a_digit_weight=1.0), CTX)
    assert trained.status == FieldStatus.needs_review and "low_confidence" in trained.reasons


def test_a_box_the_reader_is_sure_holds_no_digit_stays_unread():
    """
    GIVEN an account number whose fifth box the digit reader calls not a digit at 0.99 (a kanji, a
          scribble), both line engines reading 1 there at 0.98
    WHEN deciding with the default settings
    THEN review: weighed at the paper's share, "not a digit" still outweighs the 1 (0.2475 to 0.01)
    """
    digit = sure("8304") + [digit_cell({10: 0.99, 1: 0.01})] + sure("86")
    f = decide_field(field("child_allowance", "account_number", digit, "8304186", "8304186", line_conf=0.98),
                     DecisionSettings(), CTX)
    assert f.status == FieldStatus.needs_review
    assert f.readings["digit"] == "8304?86"


def test_a_dates_freely_written_parts_keep_not_a_digit_as_trained():
    """
    GIVEN an application date written 8|11|06 whose month was cut as one window, read 8|1|06 by all
          three readers, the digit reader's 1 at 0.923 and "not a digit" 0.073 (a tuning document's
          birth date, 1977-11-29 read 1977-01-29)
    WHEN deciding with the default settings
    THEN review: in a written part "not a digit" marks two digits run together and is not weighed down
    """
    digit = weighed("8106", {1: {1: 0.923, 10: 0.073}}, (1, 1, 2))
    line = dated("8|1|06", 0.9)
    spec = FORMS["child_allowance_claim"].field("application_date")
    assert spec.parts  # written freely in three parts
    f = decide_field(RawField(spec, {"paddle": line, "rapid": line, "digit": digit}, {}, True), DecisionSettings(), CTX)
    assert f.status != FieldStatus.accepted
    in_boxes = spec.model_copy(update={"parts": ()})
    boxed = decide_field(RawField(in_boxes, {"paddle": line, "rapid": line, "digit": digit}, {}, True),
                         DecisionSettings(), CTX)
    assert boxed.value == "2026-01-06" and boxed.status == FieldStatus.accepted


def test_a_phone_numbers_windows_keep_not_a_digit_as_trained():
    """
    GIVEN a phone number written in one box, 0833-41-8240, whose 4 all three readers read as 9 at
          0.998 or more, and whose third digit the digit reader gives 3 at 0.915 with "not a digit"
          0.073 (a tuning document: the 3 held back a wrong number)
    WHEN deciding with the default settings
    THEN review: a window cut from free writing may hold a bad cut, so "not a digit" is not weighed
         down there (weighed, the 3 would reach 0.97 and 0833-41-8290 would be accepted)
    """
    digit = weighed("0833418290", {2: {3: 0.915, 10: 0.073}})
    digit = EngineText("0833-41-8290", digit.confidence, digit.cells, (4, 2, 4))
    line = EngineText("0833-41-8290", 0.9, cells("0833418290", 0.9).cells, (4, 2, 4))
    spec = FORMS["long_term_care"].field("phone")
    assert not spec.parts and not spec.char_boxes  # written freely in one box
    f = decide_field(RawField(spec, {"paddle": line, "rapid": line, "digit": digit}, {}, True), DecisionSettings(), CTX)
    assert f.status == FieldStatus.needs_review and f.value == "0833-41-8290"
