"""Bank transfer fields checked against the Zengin master: the bank code exists, the branch is one of
that bank's, a doubtful digit is read under the master, and the sample generator writes real codes."""

from datetime import date

import numpy as np

from ocr.decide import decide_field, decide_fields
from ocr.validate import Context, banks, validate
from ocr.vote import RawField
from samples.generator.values import fill_values
from schemas.results import FieldStatus
from schemas.settings import DecisionSettings
from schemas.templates import load_templates
from tests.test_decide import cells, weighed

CFG = DecisionSettings()
FORM = load_templates()["child_allowance_claim"]
BANK, BRANCH = FORM.field("bank_code"), FORM.field("branch_code")
TODAY = date(2026, 11, 30)


def test_a_bank_code_is_one_of_the_zengin_master_and_a_branch_one_of_its_banks():
    """
    GIVEN 0170 (山口銀行) and 0171 (no bank); branch 001 of 0170 and 999 (none of its branches); and a
          branch code while no bank code was accepted
    WHEN validating
    THEN 0171 and 999 fail; the branch without a bank stands on its own reading
    """
    ctx = Context(today=TODAY, values={})
    assert validate(BANK, "0170", ctx) == [] and validate(BANK, "0171", ctx) == ["bank_exists"]
    with_bank = Context(today=TODAY, values={"bank_code": "0170"})
    assert validate(BRANCH, "001", with_bank) == [] and validate(BRANCH, "999", with_bank) == ["branch_exists"]
    assert validate(BRANCH, "999", ctx) == []  # no bank accepted: nothing to check it against
    assert "001" in banks()["0170"] and len(banks()) > 1000


def test_a_doubt_between_a_bank_and_no_bank_is_settled_by_the_master():
    """
    GIVEN the digit reader torn between 1 and 7 in a bank code's last box (0171 is no bank, 0177 is
          one), and rapid reading 0177 unsurely; and a doubt between 0172 and 0173, both banks
    WHEN deciding
    THEN 0177 is accepted (the master leaves one digit, rapid backs every box); the second goes to review
    """
    texts = {"rapid": cells("0177", 0.6), "digit": weighed("0171", {3: {1: 0.55, 7: 0.45}})}
    f = decide_field(RawField(BANK, texts, {}, True), CFG, Context(today=TODAY, values={}))
    assert (f.status, f.value, f.reasons) == (FieldStatus.accepted, "0177", [])
    both = {"rapid": cells("0172", 0.6), "digit": weighed("0172", {3: {2: 0.55, 3: 0.45}})}
    f = decide_field(RawField(BANK, both, {}, True), CFG, Context(today=TODAY, values={}))
    assert f.status == FieldStatus.needs_review and "low_confidence" in f.reasons


def test_a_branch_is_read_under_the_branches_of_the_bank_accepted():
    """
    GIVEN bank 0170 read surely, and a branch code whose last box the digit reader takes for 7 or 1
          (027 is no branch of 0170, 021 is one), rapid reading 021
    WHEN deciding the page
    THEN both accepted: the branch is read among 0170's branches
    """
    bank = RawField(BANK, {"rapid": cells("0170", 0.9), "digit": weighed("0170")}, {}, True)
    assert "027" not in banks()["0170"] and "021" in banks()["0170"]
    branch = RawField(BRANCH, {"rapid": cells("021", 0.6), "digit": weighed("027", {2: {7: 0.55, 1: 0.45}})}, {}, True)
    out = decide_fields([bank, branch], CFG, Context(today=TODAY, values={}))
    assert (out["bank_code"].status, out["bank_code"].value) == (FieldStatus.accepted, "0170")
    assert (out["branch_code"].status, out["branch_code"].value) == (FieldStatus.accepted, "021")


def test_a_branch_no_branch_of_the_bank_read_sends_both_codes_to_review():
    """
    GIVEN bank 0170 and branch 999 both read surely by the digit reader and rapid
    WHEN deciding the page
    THEN neither is accepted: the branch is no branch of 0170, and the bank code may be the misread one
    """
    bank = RawField(BANK, {"rapid": cells("0170", 0.9), "digit": weighed("0170")}, {}, True)
    branch = RawField(BRANCH, {"rapid": cells("999", 0.9), "digit": weighed("999")}, {}, True)
    out = decide_fields([bank, branch], CFG, Context(today=TODAY, values={}))
    assert out["branch_code"].status != FieldStatus.accepted
    assert "validator:branch_exists" in out["branch_code"].reasons
    assert (out["bank_code"].status, out["bank_code"].reasons) == (FieldStatus.needs_review, ["validator:branch_exists"])


def test_the_sample_generator_writes_real_banks_and_their_branches():
    """GIVEN 30 filled claim forms WHEN reading their bank fields THEN each is a bank of the master and one
    of its branches, and the forms differ."""
    drawn = [fill_values(FORM, np.random.default_rng(seed)) for seed in range(30)]
    assert all(v["bank_code"] in banks() and v["branch_code"] in banks()[v["bank_code"]] for v in drawn)
    assert len({v["bank_code"] for v in drawn}) > 20


def test_a_reviewer_correcting_the_bank_code_is_told_when_the_accepted_branch_is_not_its():
    """
    GIVEN a document whose bank code is in review and whose branch code 021 was accepted (a branch of
          0170, 山口銀行), and a reviewer who answers 0009 (三井住友, which has no branch 021), or 0170
    WHEN the answer is checked
    THEN 0009 is asked again with the branch named; 0170 passes
    """
    from pathlib import Path

    from flows.verify import Item, check
    from schemas.db import FieldValue

    row = FieldValue(document_id=1, name="bank_code", label=BANK.label, kind="digits", value='"0171"',
                     status="needs_review", confidence=0.5)
    items = [Item(BANK, row, {}, Path("unused.png"))]
    assert "021" in banks()["0170"] and "021" not in banks()["0009"]
    values, problems = check(FORM, items, {"bank_code": "0009"}, {"branch_code": "021"}, TODAY)
    assert values["bank_code"] == "0009" and "支店コード「021」" in problems["bank_code"]
    assert check(FORM, items, {"bank_code": "0170"}, {"branch_code": "021"}, TODAY)[1] == {}


def test_a_reviewer_sees_what_the_zengin_master_calls_each_bank_and_branch_code_read(tmp_path):
    """
    GIVEN a document in review with its bank code read 0170 by two readers and 0171 by the third, and
          its branch code read 001; then the same branch code under a bank code the master lacks
    WHEN the review page is written
    THEN 0170 is named 山口 and 0171 said to be in no list; 001 is 山口's 本店営業部; under the
         unknown bank nothing is named (there is nothing to look the branch up in); a reviewer's
         answer in the form (0009) is named too when the page is shown again
    """
    from flows.verify import Item, markdown
    from schemas.db import Document, FieldValue

    def item(spec, readings, value):
        row = FieldValue(document_id=1, name=spec.name, label=spec.label, kind="digits", value=f'"{value}"',
                         status="needs_review", confidence=0.5)
        return Item(spec, row, readings, tmp_path / f"{spec.name}.png")

    doc = Document(sha256="0" * 64, source="scan.jpg", form=FORM.id, status="needs_review")
    items = [item(BANK, {"digit": "0171", "paddle": "0170", "rapid": "0170"}, "0171"),
             item(BRANCH, {"digit": "001", "paddle": "001", "rapid": "001"}, "001")]
    text = markdown(doc, FORM, items, {}, known={"bank_code": "0170"})
    assert "- 全銀協の金融機関一覧: 「0170」山口、「0171」は一覧にありません" in text
    assert "- 全銀協の金融機関一覧: 「001」山口 本店営業部" in text
    assert text.count("全銀協の金融機関一覧") == 2
    unknown_bank = markdown(doc, FORM, items[1:], {}, known={"bank_code": "0171"})
    assert "全銀協" not in unknown_bank
    answered = markdown(doc, FORM, items[:1], {}, known={"bank_code": "0009"})  # asked again after 0009
    assert "「0171」は一覧にありません、「0009」三井住友" in answered
