"""A form of two pages: each page of the file is matched to the form's page, read, and a page
missing, out of order or from another paper is a clear error, never a silent misreading."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from ocr.errors import MissingPageError, PageOrderError, WrongPageError
from ocr.render import render_page, render_pdf
from samples.generator.draw import draw_form, generate
from schemas.results import DocumentStatus
from schemas.templates import FORMS_DIR, FormTemplate, load_template
from tests.conftest import copy_forms, reader_for

# 居宅サービス計画作成依頼届出書 as two pages: the insured person on the front, the care plan
# office on the back
SPEC = {
    "id": "care_plan_request",
    "title": "居宅サービス計画作成依頼届出書",
    "pages": 2,
    "texts": [
        {"text": "下松市長　様", "x": 15, "y": 26, "size": 4},
        {"text": "（裏面）居宅介護支援事業者", "x": 15, "y": 26, "size": 4, "page": 2},
        {"text": "裏面にも記入してください。", "x": 15, "y": 262, "size": 3.2},
    ],
    "fields": [
        {"name": "insured_number", "label": "被保険者番号", "kind": "digits", "char_boxes": 10,
         "box": [47, 40, 90, 12], "required": True},
        {"name": "name", "label": "氏名", "kind": "name_kanji", "box": [47, 58, 100, 14], "required": True},
        {"name": "birth_date", "label": "生年月日", "kind": "wareki_date", "eras": ["taisho", "showa"],
         "box": [47, 78, 148, 12], "required": True, "validators": ["date_past"]},
        {"name": "postal_code", "label": "郵便番号", "kind": "postal_code", "char_boxes": 7,
         "box": [47, 96, 63, 12], "required": True, "validators": ["postal_code_exists"]},
        {"name": "office_name", "label": "事業所名", "kind": "text", "box": [47, 45, 130, 14], "page": 2,
         "required": True},
        {"name": "office_phone", "label": "事業所電話", "kind": "phone", "box": [47, 66, 90, 12], "page": 2,
         "required": True},
        {"name": "request_date", "label": "届出日", "kind": "wareki_date", "eras": ["reiwa"],
         "box": [47, 86, 148, 12], "page": 2, "required": True, "validators": ["date_recent"]},
        {"name": "consent", "label": "同意する", "kind": "checkbox", "box": [47, 104, 100, 10], "page": 2},
    ],
}


@pytest.fixture(scope="module")
def forms(tmp_path_factory) -> Path:
    """The built-in forms and the two-page one."""
    folder = copy_forms(tmp_path_factory.mktemp("forms"))
    (folder / "care_plan_request.yaml").write_text(yaml.safe_dump(SPEC, allow_unicode=True), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def template(forms: Path) -> FormTemplate:
    return load_template(forms / "care_plan_request.yaml")


def test_each_page_is_a_form_of_its_own_fields(template: FormTemplate) -> None:
    front, back = template.page_forms()
    assert [f.name for f in front.fields] == ["insured_number", "name", "birth_date", "postal_code"]
    assert [f.name for f in back.fields] == ["office_name", "office_phone", "request_date", "consent"]
    assert (front.sheet, back.sheet) == (1, 2)
    assert back.page_of(2) is back and back.page_forms() == [back]
    a, b = render_page(front, 50), render_page(back, 50)
    assert a.shape == b.shape and np.mean(a != b) > 0.01  # the two pages print differently
    with pytest.raises(ValueError, match="page_of"):
        render_page(template, 50)


def test_a_field_on_a_page_the_form_does_not_have_is_refused() -> None:
    bad = {**SPEC, "pages": 1}
    with pytest.raises(ValueError, match="office_name: page 2, but the form has 1 page"):
        FormTemplate.model_validate(bad)


def test_forms_render_prints_both_pages(template: FormTemplate, tmp_path: Path) -> None:
    out = render_pdf(template, tmp_path / "blank.pdf")
    info = subprocess.run(["pdfinfo", str(out)], capture_output=True, text=True, check=True).stdout
    assert "Pages:           2" in info


def test_generated_samples_of_two_pages_are_one_file(template: FormTemplate, tmp_path: Path) -> None:
    """PNG holds one page: a form of two is written as a PDF (and TIFF when asked) of two pages."""
    paths = generate(template, 1, 3, tmp_path, ("png", "tif"), dpi=150)
    assert [p.suffix for p in paths] == [".pdf", ".tif"]
    with Image.open(paths[1]) as im:
        assert im.n_frames == 2


def _pages(template: FormTemplate, seed: int, folder: Path, order: list[int],
           extra: np.ndarray | None = None) -> tuple[Path, dict]:
    """The form filled in and scanned, its pages written in `order` (1-based; missing ones left out)."""
    from samples.generator.draw import fill_values
    from samples.generator.scan import scan

    values = fill_values(template, np.random.default_rng(seed))
    drawn = draw_form(template, values, np.random.default_rng(seed + 1))
    pages = [scan(drawn[n - 1], np.random.default_rng(seed + n), dpi_out=200) for n in order]
    if extra is not None:
        pages.append(extra)
    first, *rest = (Image.fromarray(p) for p in pages)
    path = folder / f"care-{seed}-{''.join(map(str, order))}{'x' if extra is not None else ''}.pdf"
    first.save(path, "PDF", resolution=200.0, save_all=True, append_images=rest)
    return path, values


@pytest.fixture
def reader(forms: Path, settings, engines):
    return reader_for(settings, engines, forms)


@pytest.mark.slow
def test_both_pages_are_read_and_their_images_kept(reader, template: FormTemplate, tmp_path: Path) -> None:
    """
    GIVEN the two-page form filled in and scanned into one PDF
    WHEN processed
    THEN fields of both pages are read from their own page, each page's registration is reported,
         and a doubtful field of page 2 has its image and page 2's picture beside page 1's
    """
    path, values = _pages(template, 11, tmp_path, [1, 2])
    result = reader.process(path)
    assert result.form == "care_plan_request" and result.pages == 2
    scores = [result.registration["score_p1"], result.registration["score_p2"]]
    assert min(scores) > 0.8 and result.registration["score"] == min(scores)
    assert not any(e.code == "extra_pages" for e in result.errors)
    assert result.fields["postal_code"].value == values["postal_code"]
    assert result.fields["office_phone"].value == values["office_phone"]
    assert result.fields["consent"].value == values["consent"]
    from flows.pipeline import views_dir

    views = views_dir(reader.settings, result.sha256)
    doubtful = sorted(n for n, f in result.fields.items() if f.status != "accepted")
    assert result.status == DocumentStatus.needs_review, "this scan has doubtful fields (seed 11)"
    assert (views / "page.jpg").exists() and (views / "page-2.jpg").exists()
    assert all((views / f"{n}.png").exists() for n in doubtful)

    from flows.verify import items_for, markdown

    doc = reader.store.find(result.sha256)
    items = items_for(reader.store, doc, template, reader.settings.home / "views")
    text = markdown(doc, template, items, {})
    on = {template.field(n).page for n in doubtful}
    for page in (1, 2):  # each page's picture, outlining the fields asked on it, when it has any
        assert (f"![用紙全体（{page}枚目）](data:image/jpeg;base64," in text) == (page in on)


@pytest.mark.slow
def test_pages_missing_out_of_order_or_from_another_paper_are_refused(reader, template, tmp_path: Path) -> None:
    """
    GIVEN the two-page form scanned with its back first, with its back missing, with another
          form's page as its back, and with a third page after it
    WHEN read
    THEN the first three are refused with the reason a clerk can act on; the fourth is read and
         goes to a person, who is told the page after the form's two was not read
    """
    swapped, _ = _pages(template, 21, tmp_path, [2, 1])
    with pytest.raises(PageOrderError) as exc:
        reader.read(swapped)
    assert "順番が違います" in exc.value.message_ja and exc.value.code == "page_order"

    alone, _ = _pages(template, 22, tmp_path, [1])
    with pytest.raises(MissingPageError) as exc:
        reader.read(alone)
    assert "2枚の申請書" in exc.value.message_ja and "1枚しかありません" in exc.value.message_ja

    other = load_template(FORMS_DIR / "child_allowance.yaml")
    [other_scan] = generate(other, 1, 5, tmp_path / "other", ("png",), dpi=200)
    other_page = np.asarray(Image.open(other_scan).convert("RGB"))
    mixed, _ = _pages(template, 23, tmp_path, [1], extra=other_page)
    with pytest.raises(WrongPageError) as exc:
        reader.read(mixed)
    assert exc.value.page == 1 and "2枚目として認識できませんでした" in exc.value.message_ja

    three, _ = _pages(template, 24, tmp_path, [1, 2], extra=other_page)
    result = reader.read(three)
    assert result.status == DocumentStatus.needs_review
    assert [e.code for e in result.errors] == ["extra_pages"] and "3ページ目以降" in result.errors[0].message_ja


@pytest.mark.slow
def test_forms_check_draws_every_page(reader, template: FormTemplate, tmp_path: Path) -> None:
    """GIVEN a two-page scan WHEN checked against its form THEN each page gets its picture, the
    weakest page's score is reported, and nothing is recorded."""
    from flows.check import check_scan

    path, _ = _pages(template, 31, tmp_path, [1, 2])
    c = check_scan(reader, path, "care_plan_request", tmp_path / "out" / "care-check.png")
    assert [p.name for p in c.pictures] == ["care-check.png", "care-check-p2.png"]
    sizes = {Image.open(p).size for p in c.pictures}
    assert sizes == {(2480, 3508)}  # A4 at 300 dpi, each page
    assert c.score == min(r.score for r in c.registrations) > 0.8
    assert [r.template.sheet for r in c.registrations] == [1, 2]
    assert not (reader.settings.home / "madoguchi.db").exists()
