"""Loading scan files: every supported format, and every bad file mapped to an error a clerk can act on."""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import cv2
import numpy as np
import pikepdf
import pytest
from PIL import Image, ImageDraw

from ocr.errors import (
    CorruptFileError,
    DecoderFailedError,
    EmptyFileError,
    EncryptedPdfError,
    FileTooLargeError,
    LoadTimeoutError,
    MadoguchiError,
    PageShapeError,
    PageTooLargeError,
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


# --- hostile files: bombs, page counts, malformed images, poppler that does not stop ----------------


def _png_declaring(width: int, height: int) -> bytes:
    """A valid PNG header declaring width x height 1-bit pixels, with one row of data: a few hundred
    bytes that would decode to width x height pixels (a decompression bomb)."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    row = zlib.compress(b"\0" * (1 + (width + 7) // 8))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", row) + chunk(b"IEND", b"")


def _tiff_chain(frames: int) -> bytes:
    """A little-endian TIFF of `frames` 64 x 64 grey frames, each IFD pointing to the next, all
    sharing one strip: 100 bytes a frame."""
    import struct

    ifd_size, base = 2 + 8 * 12 + 4, 8
    strip = base + frames * ifd_size
    out = bytearray(b"II*\x00" + struct.pack("<I", base))
    for i in range(frames):
        tags = [(256, 64), (257, 64), (258, 8), (259, 1), (262, 1), (273, strip), (278, 64), (279, 64 * 64)]
        out += struct.pack("<H", len(tags))
        for tag, value in tags:
            out += struct.pack("<HHII", tag, 4, 1, value)  # LONG values: Pillow accepts them for every tag here
        out += struct.pack("<I", base + (i + 1) * ifd_size if i + 1 < frames else 0)
    return bytes(out + b"\x80" * 64 * 64)


def test_decompression_bomb_is_refused_from_its_header(tmp_path: Path) -> None:
    """GIVEN PNGs of a few hundred bytes declaring 12,000 x 12,000 (above our 100 MP, below Pillow's own
    limit) and 100,000 x 100,000 pixels WHEN loaded THEN PageTooLargeError at once, nothing decoded,
    the clerk told the size and the limit."""
    import time

    path = tmp_path / "bomb.png"
    path.write_bytes(_png_declaring(12_000, 12_000))
    t0 = time.perf_counter()
    with pytest.raises(PageTooLargeError) as info:
        load_pages(path)
    assert time.perf_counter() - t0 < 1.0
    assert (info.value.code, info.value.width, info.value.height) == ("page_too_large", 12_000, 12_000)
    assert "12000×12000画素" in info.value.message_ja and "上限は1億画素" in info.value.message_ja
    path.write_bytes(_png_declaring(100_000, 100_000))  # Pillow refuses it first: same error, size unknown
    with pytest.raises(PageTooLargeError) as info:
        load_pages(path)
    assert "上限は1億画素" in info.value.message_ja


def test_the_pixel_limit_is_the_callers(tmp_path: Path) -> None:
    """GIVEN a 1,000 x 1,400 PNG WHEN the limit is 1 MP THEN refused; WHEN it is the default THEN loaded."""
    path = tmp_path / "scan.png"
    Image.new("L", (1000, 1400), 255).save(path)
    with pytest.raises(PageTooLargeError):
        load_pages(path, max_pixels=1_000_000)
    assert len(load_pages(path)) == 1


def test_pdf_page_of_metres_is_refused_before_rendering(tmp_path: Path) -> None:
    """GIVEN a PDF page 5 m x 5 m WHEN loaded at 300 dpi (59,000 px a side) THEN PageTooLargeError from
    pdfinfo's page size, in well under a second; poppler never renders it."""
    import time

    path = tmp_path / "poster.pdf"
    with pikepdf.open(_pdf(tmp_path / "a4.pdf", 1)) as pdf:
        pdf.pages[0].MediaBox = [0, 0, 14173, 14173]  # pt: 5 m
        pdf.save(path)
    t0 = time.perf_counter()
    with pytest.raises(PageTooLargeError) as info:
        load_pages(path, pdf_dpi=300)
    assert time.perf_counter() - t0 < 1.0
    assert info.value.width == info.value.height == 59_055 and info.value.page == 0


def test_a_small_crop_box_on_a_huge_media_box_renders_only_the_crop_box(tmp_path: Path) -> None:
    """GIVEN a page whose crop box is A4 but whose media box is 7 m (pdfinfo measures the crop box,
    pdftoppm would render the media box) WHEN loaded THEN an A4 page: the crop box is rendered."""
    path = tmp_path / "cropped.pdf"
    with pikepdf.open(_pdf(tmp_path / "a4.pdf", 1)) as pdf:
        pdf.pages[0].CropBox = list(pdf.pages[0].MediaBox)
        pdf.pages[0].MediaBox = [0, 0, 20_000, 20_000]
        pdf.save(path)
    [page] = load_pages(path, pdf_dpi=100)
    assert abs(page.image.shape[1] - 827) <= 2 and abs(page.image.shape[0] - 1169) <= 2


def test_pdf_of_hundreds_of_pages_is_refused_quickly_with_the_count(tmp_path: Path) -> None:
    """GIVEN a 500-page PDF WHEN loaded THEN TooManyPagesError naming 500 and the limit 20, from
    pdfinfo's count in under 2 s, nothing rendered; it is refused, never read in part."""
    import time

    path = tmp_path / "bundle.pdf"
    with pikepdf.open(_pdf(tmp_path / "one.pdf", 1)) as pdf:
        for _ in range(499):
            pdf.pages.append(pdf.pages[0])
        pdf.save(path)
    t0 = time.perf_counter()
    with pytest.raises(TooManyPagesError) as info:
        load_pages(path)
    assert time.perf_counter() - t0 < 2.0
    assert (info.value.pages, info.value.limit) == (500, 20)
    assert "500ページ、上限は20ページ" in info.value.message_ja


def test_tiff_chaining_thousands_of_frames_is_refused_without_walking_them(tmp_path: Path) -> None:
    """GIVEN a 500 kB TIFF of 5,000 chained frames (Pillow's n_frames takes about 2 s on it, minutes on
    a 10 MB one) WHEN loaded THEN TooManyPagesError 「21ページ以上」 in a fraction of that."""
    import time

    path = tmp_path / "chain.tif"
    path.write_bytes(_tiff_chain(5000))
    t0 = time.perf_counter()
    with pytest.raises(TooManyPagesError) as info:
        load_pages(path)
    assert time.perf_counter() - t0 < 0.5
    assert info.value.pages is None and "21ページ以上" in info.value.message_ja
    path.write_bytes(_tiff_chain(3))
    assert [p.image.shape for p in load_pages(path)] == [(64, 64)] * 3


def test_multi_frame_tiff_with_odd_frames(tmp_path: Path) -> None:
    """GIVEN a TIFF whose frames differ in size and mode (bilevel, 16-bit, colour)
    WHEN loaded THEN every frame is a grayscale page of its own size;
    WHEN one frame is larger than the limit, or all together are THEN refused, naming that frame."""
    frames = [_sheet(40).convert("1"), Image.fromarray(np.full((500, 400), 40000, np.uint16)),
              Image.new("RGB", (300, 420), (250, 10, 10))]
    path = tmp_path / "odd.tif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    pages = load_pages(path)
    assert [p.image.shape for p in pages] == [(468, 331), (500, 400), (420, 300)]
    assert all(p.image.dtype == np.uint8 for p in pages)
    with pytest.raises(PageTooLargeError) as info:
        load_pages(path, max_pixels=180_000)
    assert info.value.page == 1
    with pytest.raises(FileTooLargeError):
        load_pages(path, max_file_pixels=400_000)


@pytest.mark.parametrize("size", [(1, 5000), (5000, 1), (40, 40), (300, 1500)])
def test_a_page_that_cannot_hold_a_form_is_refused_by_its_shape(tmp_path: Path, size: tuple[int, int]) -> None:
    """GIVEN a thumbnail or a strip (1 x 5000 px crashed OpenCV in registration) WHEN loaded THEN
    PageShapeError naming the size."""
    path = tmp_path / "strip.png"
    Image.new("L", size, 255).save(path)
    with pytest.raises(PageShapeError) as info:
        load_pages(path)
    assert f"{size[0]}×{size[1]}画素" in info.value.message_ja


@pytest.mark.parametrize("case", ["zero-size-png", "jpeg-bad-header", "jpeg-truncated", "tiff-bad-ifd",
                                  "png-bad-crc", "jpeg-magic-only"])
def test_malformed_images_are_corrupt_files(tmp_path: Path, case: str) -> None:
    """GIVEN a PNG declaring 0 x 0 pixels, a JPEG whose header is garbage after its magic, a JPEG cut
    after its header, a TIFF whose first IFD points past the end, a PNG with a bad checksum, the JPEG
    magic alone WHEN loaded THEN a MadoguchiError with a reason (corrupt or odd page), never another
    exception."""
    jpeg = io.BytesIO()
    _sheet(50).save(jpeg, "JPEG")
    png = io.BytesIO()
    _sheet(50).save(png, "PNG")
    data = {
        "zero-size-png": _png_declaring(0, 0),
        "jpeg-bad-header": jpeg.getvalue()[:3] + bytes(range(256)) * 4,
        "jpeg-truncated": jpeg.getvalue()[:700],
        "tiff-bad-ifd": b"II*\x00" + (10**9).to_bytes(4, "little") + b"\0" * 100,
        "png-bad-crc": png.getvalue()[:29] + b"\0\0\0\0" + png.getvalue()[33:],
        "jpeg-magic-only": b"\xff\xd8\xff",
    }[case]
    path = tmp_path / "bad.img"
    path.write_bytes(data)
    with pytest.raises(MadoguchiError) as info:
        load_pages(path)
    assert info.value.code in {"corrupt_file", "page_shape"} and info.value.message_ja


def test_an_unforeseen_decoder_exception_is_still_an_error_with_a_reason(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN a decoder that raises an exception no one expected (injected: KeyError)
    WHEN a PNG is loaded THEN DecoderFailedError, a CorruptFileError naming the exception, not a crash."""
    import ocr.pages

    def broken(img):
        raise KeyError("injected")

    monkeypatch.setattr(ocr.pages.ImageOps, "exif_transpose", broken)
    path = tmp_path / "scan.png"
    _sheet(50).save(path)
    with pytest.raises(DecoderFailedError) as info:
        load_pages(path)
    assert isinstance(info.value, CorruptFileError) and info.value.code == "decoder_failed"
    assert "KeyError" in str(info.value) and "システム担当者" in info.value.message_ja


def test_poppler_that_does_not_stop_is_killed_at_the_files_deadline(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN a pdfinfo that hangs (a stand-in that sleeps 60 s, first on PATH) WHEN a PDF is loaded with
    2 s for poppler THEN LoadTimeoutError saying 2 s, from the stand-in that had started, and the hung
    process is gone. (Without the deadline the stand-in would end after 60 s with no output: another
    error, so no clock is read here.)"""
    import subprocess

    path = _pdf(tmp_path / "scan.pdf", 1)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    hang = bin_dir / "pdfinfo"
    hang.write_text(f"#!/bin/sh\necho $$ > {tmp_path}/pid\nexec sleep 60\n")
    hang.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    with pytest.raises(LoadTimeoutError) as info:
        load_pages(path, timeout_s=2.0)
    assert info.value.code == "load_timeout" and "2秒" in info.value.message_ja
    pid = (tmp_path / "pid").read_text().strip()  # the stand-in ran: the deadline stopped a running poppler
    assert subprocess.run(["kill", "-0", pid], capture_output=True).returncode != 0  # killed, not left running


def test_a_file_named_like_an_option_is_read_as_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN a PDF named "-v.pdf" in the working folder WHEN loaded by its relative name THEN its page,
    not pdftoppm's version."""
    _pdf(tmp_path / "-v.pdf", 1)
    monkeypatch.chdir(tmp_path)
    assert len(load_pages(Path("-v.pdf"), pdf_dpi=50)) == 1
