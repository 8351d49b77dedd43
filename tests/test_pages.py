"""Loading scan files: every supported format, and every bad file mapped to an error a clerk can act on."""

from __future__ import annotations

import pickle
from pathlib import Path

import cv2
import numpy as np
import pikepdf
import pytest
from PIL import Image, ImageDraw

from ocr.errors import (
    CorruptFileError,
    EmptyFileError,
    EncryptedPdfError,
    MadoguchiError,
    PopplerMissingError,
    TooManyPagesError,
    UnsupportedFileError,
)
from ocr.pages import PageImage, load_pages

A4_MM = (210, 297)


def _sheet(dpi: int, mark: str = "1") -> Image.Image:
    """A small A4 page with some print, at `dpi`."""
    w, h = (round(v * dpi / 25.4) for v in A4_MM)
    img = Image.new("L", (w, h), 255)
    draw = ImageDraw.Draw(img)
    draw.rectangle([w // 10, h // 10, w // 2, h // 5], outline=0, width=3)
    draw.text((w // 8, h // 8), f"page {mark}", fill=0)
    return img


def _pdf(path: Path, pages: int, dpi: int = 50) -> Path:
    sheets = [_sheet(dpi, str(i + 1)) for i in range(pages)]
    sheets[0].save(path, "PDF", resolution=float(dpi), save_all=True, append_images=sheets[1:])
    return path


def test_two_page_pdf_gives_two_pages_at_the_requested_dpi(tmp_path: Path) -> None:
    """GIVEN a 2-page A4 PDF WHEN loaded at 100 dpi THEN two grayscale A4 pages at 100 dpi, in order."""
    pages = load_pages(_pdf(tmp_path / "two.pdf", 2), pdf_dpi=100)
    assert [p.index for p in pages] == [0, 1]
    for p in pages:
        assert isinstance(p, PageImage)
        assert p.image.dtype == np.uint8 and p.image.ndim == 2
        assert p.dpi == 100 and p.dpi_from_file
        assert abs(p.image.shape[1] - 827) <= 2 and abs(p.image.shape[0] - 1169) <= 2
        assert p.image.min() < 50 and np.median(p.image) == 255  # print on white paper
        assert p.source == tmp_path / "two.pdf"


def test_pdf_with_more_pages_than_allowed_is_refused_before_rendering(tmp_path: Path) -> None:
    """GIVEN a 3-page PDF WHEN max_pages is 2 THEN TooManyPagesError naming both counts."""
    with pytest.raises(TooManyPagesError) as info:
        load_pages(_pdf(tmp_path / "three.pdf", 3), max_pages=2)
    assert (info.value.pages, info.value.limit) == (3, 2)
    assert "3ページ" in info.value.message_ja and "2ページ" in info.value.message_ja


def test_zero_byte_file_is_an_empty_file(tmp_path: Path) -> None:
    """GIVEN a 0-byte scan.pdf WHEN loaded THEN EmptyFileError, not a poppler error."""
    path = tmp_path / "scan.pdf"
    path.write_bytes(b"")
    with pytest.raises(EmptyFileError) as info:
        load_pages(path)
    assert info.value.code == "empty_file"


def test_text_file_named_pdf_is_unsupported(tmp_path: Path) -> None:
    """GIVEN a text file renamed .pdf WHEN loaded THEN UnsupportedFileError (decided by content, not name)."""
    path = tmp_path / "scan.pdf"
    path.write_text("これはPDFではありません\n", encoding="utf-8")
    with pytest.raises(UnsupportedFileError):
        load_pages(path)


def test_png_named_pdf_is_read_as_png(tmp_path: Path) -> None:
    """GIVEN a PNG saved under a .pdf name WHEN loaded THEN it is read as the image it is."""
    path = tmp_path / "scan.pdf"
    _sheet(60).save(path, format="PNG", dpi=(60, 60))
    [page] = load_pages(path)
    assert page.dpi == pytest.approx(60, abs=0.1)


def test_truncated_pdf_is_corrupt(tmp_path: Path) -> None:
    """GIVEN a PDF cut off in the middle WHEN loaded THEN CorruptFileError."""
    whole = _pdf(tmp_path / "whole.pdf", 1).read_bytes()
    path = tmp_path / "cut.pdf"
    path.write_bytes(whole[: len(whole) // 3])
    with pytest.raises(CorruptFileError):
        load_pages(path)


def test_pdf_header_only_is_corrupt(tmp_path: Path) -> None:
    """GIVEN a file holding only a PDF header WHEN loaded THEN CorruptFileError."""
    path = tmp_path / "header.pdf"
    path.write_bytes(b"%PDF-1.7\n")
    with pytest.raises(CorruptFileError):
        load_pages(path)


def test_password_protected_pdf_is_reported_as_encrypted(tmp_path: Path) -> None:
    """GIVEN a PDF that needs a user password WHEN loaded THEN EncryptedPdfError with the clerk's instructions."""
    plain = _pdf(tmp_path / "plain.pdf", 1)
    path = tmp_path / "locked.pdf"
    with pikepdf.open(plain) as pdf:
        pdf.save(path, encryption=pikepdf.Encryption(owner="o", user="u"))
    with pytest.raises(EncryptedPdfError) as info:
        load_pages(path)
    assert info.value.code == "encrypted_pdf"
    assert "パスワード" in info.value.message_ja
    assert "password" in str(info.value)


def test_pdf_with_only_an_owner_password_still_loads(tmp_path: Path) -> None:
    """GIVEN a PDF restricted by an owner password only WHEN loaded THEN its page renders."""
    plain = _pdf(tmp_path / "plain.pdf", 1)
    path = tmp_path / "restricted.pdf"
    with pikepdf.open(plain) as pdf:
        pdf.save(path, encryption=pikepdf.Encryption(owner="o", user=""))
    assert len(load_pages(path, pdf_dpi=50)) == 1


def test_missing_poppler_is_an_installation_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN no poppler binaries on PATH WHEN a PDF is loaded THEN PopplerMissingError."""
    path = _pdf(tmp_path / "scan.pdf", 1)
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    with pytest.raises(PopplerMissingError):
        load_pages(path)


def test_multi_page_tiff_gives_each_page_with_its_resolution(tmp_path: Path) -> None:
    """GIVEN a 3-page TIFF tagged 200 dpi WHEN loaded THEN three pages at 200 dpi."""
    sheets = [_sheet(40, str(i)) for i in range(3)]
    path = tmp_path / "fax.tif"
    sheets[0].save(path, save_all=True, append_images=sheets[1:], dpi=(200, 200), compression="tiff_deflate")
    pages = load_pages(path)
    assert [p.index for p in pages] == [0, 1, 2]
    assert all(p.dpi == pytest.approx(200) and p.dpi_from_file for p in pages)
    assert all(p.image.shape == (np.asarray(sheets[0]).shape) for p in pages)


def test_bilevel_tiff_is_grayscale_0_or_255(tmp_path: Path) -> None:
    """GIVEN a 1-bit TIFF (fax mode) WHEN loaded THEN uint8 pages of black and white."""
    path = tmp_path / "bw.tif"
    _sheet(40).convert("1").save(path, compression="group4", dpi=(200, 200))
    [page] = load_pages(path)
    assert page.image.dtype == np.uint8 and set(np.unique(page.image)) <= {0, 255}


def test_jpeg_dpi_and_colour(tmp_path: Path) -> None:
    """GIVEN a colour JPEG tagged 300 dpi WHEN loaded THEN one grayscale page at 300 dpi."""
    path = tmp_path / "scan.jpg"
    _sheet(50).convert("RGB").save(path, quality=85, dpi=(300, 300))
    [page] = load_pages(path)
    assert page.image.ndim == 2 and page.dpi == pytest.approx(300) and page.dpi_from_file


def test_image_without_resolution_assumes_300_dpi_and_says_so(tmp_path: Path) -> None:
    """GIVEN a PNG without pHYs WHEN loaded THEN dpi 300 with dpi_from_file False."""
    path = tmp_path / "scan.png"
    _sheet(50).save(path)
    [page] = load_pages(path)
    assert page.dpi == 300 and not page.dpi_from_file


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    """GIVEN a JPEG stored sideways with EXIF Orientation=6 WHEN loaded THEN the page comes out upright."""
    upright = _sheet(50).convert("RGB")
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # what a camera stores before its EXIF tag
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    path = tmp_path / "phone.jpg"
    stored.save(path, quality=90, exif=exif)
    [page] = load_pages(path)
    assert page.image.shape == (upright.height, upright.width)


def test_transparent_png_is_on_white_paper(tmp_path: Path) -> None:
    """GIVEN an RGBA PNG with a transparent background WHEN loaded THEN the background is white."""
    img = Image.new("RGBA", (100, 140), (0, 0, 0, 0))
    ImageDraw.Draw(img).rectangle([10, 10, 50, 50], fill=(0, 0, 0, 255))
    path = tmp_path / "clip.png"
    img.save(path)
    [page] = load_pages(path)
    assert page.image[100, 80] == 255 and page.image[30, 30] == 0


def test_truncated_png_is_corrupt(tmp_path: Path) -> None:
    """GIVEN a PNG cut off in the middle WHEN loaded THEN CorruptFileError."""
    path = tmp_path / "cut.png"
    noisy = Image.fromarray(np.random.default_rng(0).integers(0, 256, (400, 300), dtype=np.uint8))
    noisy.save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptFileError):
        load_pages(path)


def test_errors_share_a_base_and_survive_pickling() -> None:
    """GIVEN any Madoguchi error WHEN pickled (as Prefect may) THEN type, code and message survive."""
    for err in (TooManyPagesError(25, 20, source="a.pdf"), EncryptedPdfError("x", source="b.pdf", page=1)):
        assert isinstance(err, MadoguchiError)
        back = pickle.loads(pickle.dumps(err))
        assert type(back) is type(err)
        assert (back.code, back.message_ja, str(back)) == (err.code, err.message_ja, str(err))


# --- red dropout (赤色ドロップアウト) -------------------------------------------------------------

STRAIGHT = dict(angle=0.0, shift_mm=(0.0, 0.0), corners=((0.0, 0.0),) * 4, blur=0.8, paper=228, black=25,
                shading=0.02, noise=3.0, upside_down=False, seed=7)  # same pixels as drawn, at 300 dpi


def _filled_name_page(name: str = "加茂 今輔", ink: tuple[int, int, int] | None = None):
    """The 児童手当 form filled in by hand, drawn at 300 dpi (template coordinates): (RGB page, blank
    form, name cell). With `ink`, everything written is in that ink (RGB) instead of the writer's."""
    from ocr.layout import layout_form
    from ocr.render import render_page
    from samples.generator.draw import draw_filled
    from samples.generator.values import fill_values
    from schemas.templates import load_templates

    template = load_templates()["child_allowance"]
    values = fill_values(template, np.random.default_rng(5))
    values["applicant_name"] = name
    page = draw_filled(template, values, np.random.default_rng(6))
    blank = render_page(template, 300)
    if ink is not None:  # written ink's darkness, beyond the print, redrawn in `ink`
        a = np.clip((blank.astype(np.float32) - page.min(axis=2)) / 255.0, 0, 1)[..., None]
        page = (255 * (1 - a) + np.array(ink, np.float32) * a).astype(np.uint8)
        page[blank < 255] = np.repeat(blank[..., None], 3, axis=2)[blank < 255]
    return page, blank, layout_form(template)["applicant_name"].cells[0]


def _scan_jpeg(page: np.ndarray, path: Path, quality: int = 70) -> Path:
    """Through the simulated scanner (no skew), saved as a 4:2:0 JPEG, as office scanners do."""
    from samples.generator.draw import ScanParams, apply_scan

    img = apply_scan(page, ScanParams(dpi_out=300, jpeg_quality=quality, **STRAIGHT))
    Image.fromarray(img).save(path, quality=quality, subsampling="4:2:0", dpi=(300, 300))
    return path


def test_red_seal_over_a_name_becomes_paper_and_the_name_under_it_survives(tmp_path: Path) -> None:
    """GIVEN a name in black ink with a 朱肉 seal (15 mm ring, a kanji inside) pressed over its end, and a
    black stroke drawn across the seal, scanned to a JPEG
    WHEN loaded
    THEN the seal's pixels are paper, and the ink under and across it is still ink."""
    from ocr.fields import INK_LEVEL
    from ocr.pages import normalise_background
    from samples.generator.seal import seal_over_writing

    page, blank, cell = _filled_name_page()
    x_end = round((cell.x + cell.w * 0.5) * 300 / 25.4)
    plain = page.copy()
    seal = seal_over_writing(page, blank, cell, "森", 300)
    ys, xs = np.nonzero(seal)
    cv2.line(page, (int(xs.max()) - 20, int(ys.min())), (int(xs.max()) - 20, int(ys.max())), (30, 30, 30), 5)
    cv2.line(plain, (int(xs.max()) - 20, int(ys.min())), (int(xs.max()) - 20, int(ys.max())), (30, 30, 30), 5)
    assert xs.min() < x_end  # the seal is over the writing, not beside it
    [sealed] = load_pages(_scan_jpeg(page, tmp_path / "child_allowance-red-seal-over-name.jpg"))
    [unsealed] = load_pages(_scan_jpeg(plain, tmp_path / "child_allowance-no-seal.jpg"))
    with_seal = normalise_background(sealed.image, 300) < INK_LEVEL
    without = normalise_background(unsealed.image, 300) < INK_LEVEL
    region = np.zeros_like(seal)
    region[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1] = True
    seal_only = seal & ~cv2.dilate(without.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    assert with_seal[seal_only].mean() < 0.01  # the seal's rim and character are gone
    writing = without & region
    assert writing.sum() > 2000 and with_seal[writing].mean() > 0.9  # 輔 and the stroke under the seal stay
    assert (with_seal & region & ~without).sum() < 0.02 * region.sum()  # nothing of the seal left as ink
    assert 0.0005 < sealed.red_dropped < 0.01 and unsealed.red_dropped == 0.0


def test_colourless_scan_is_unchanged_by_red_dropout(tmp_path: Path) -> None:
    """GIVEN a colour JPEG of a page without colour (black writing, grey paper with a scanner's warm cast)
    WHEN loaded THEN exactly the grey levels of the plain luminance, and nothing counted as red."""
    page, _, _ = _filled_name_page()
    path = _scan_jpeg(page, tmp_path / "child_allowance-colour-scan-no-red.jpg")
    [loaded] = load_pages(path)
    with Image.open(path) as img:
        luminance = np.asarray(img.convert("L"))
    assert np.array_equal(loaded.image, luminance)
    assert loaded.red_dropped == 0.0


def test_blue_ink_and_pencil_survive_red_dropout(tmp_path: Path) -> None:
    """GIVEN a name in blue ballpoint and a grey pencil line, beside a red-pen tick, on a colour scan
    WHEN loaded THEN blue and pencil keep their grey levels, and only the red tick becomes paper."""
    import cv2

    page, _, cell = _filled_name_page(ink=(35, 55, 150))
    k = 300 / 25.4
    y = round((cell.y + cell.h + 3) * k)
    cv2.line(page, (round(cell.x * k), y), (round((cell.x + 40) * k), y), (110, 110, 110), 4)  # pencil
    cv2.line(page, (round((cell.x + 60) * k), y), (round((cell.x + 90) * k), y), (215, 30, 50), 5)  # red pen
    path = tmp_path / "child_allowance-blue-ink-red-tick.png"
    Image.fromarray(page).save(path, dpi=(300, 300))
    [loaded] = load_pages(path)
    luminance = np.asarray(Image.fromarray(page).convert("L"))
    blue = (page[..., 2].astype(int) - page[..., 0]) > 40
    assert blue.sum() > 2000 and np.array_equal(loaded.image[blue], luminance[blue])
    assert loaded.image[y, round((cell.x + 20) * k)] == luminance[y, round((cell.x + 20) * k)] < 130
    assert loaded.image[y, round((cell.x + 75) * k)] == 255  # red pen: paper


def test_red_seal_on_a_colour_pdf_is_dropped(tmp_path: Path) -> None:
    """GIVEN a colour PDF page (JPEG inside, 100 dpi) with a red seal beside black print
    WHEN loaded THEN the seal is paper but for a faint fringe of its thin rim, and the print is ink."""
    from samples.generator.seal import press_seal

    sheet = np.asarray(_sheet(100).convert("RGB")).copy()
    mask = press_seal(sheet, (150.0, 200.0), 15.0, "森", 100)
    path = tmp_path / "sealed.pdf"
    Image.fromarray(sheet).save(path, "PDF", resolution=100.0)
    [page] = load_pages(path, pdf_dpi=100)
    seal = page.image[mask]
    assert (seal > 200).mean() > 0.97 and seal.min() > 128 and page.red_dropped > 0
    assert page.image.min() < 50  # the printed rectangle and text
