"""Errors a user can act on, one class per remedy.

Library code raises these; the CLI and the top-level flow translate them (quarantine the scan
with a reason file, show `message_ja` to the counter clerk). `str()` is English, for logs.
Catch them by type, never by matching on the message text.
"""

from __future__ import annotations

from pathlib import Path


class MadoguchiError(Exception):
    """Base class of every error Madoguchi reports to a person.

    Attributes:
        code: machine-readable reason, e.g. "empty_file"; stable, used in reason files.
        message_ja: what happened and what to do, in plain Japanese, for the counter clerk.
        source: the file concerned, if known.
        page: 0-based page index concerned, if known.
        detail: technical detail for logs (e.g. poppler's message), English or as received.
    """

    code = "error"
    message_en = "the scan could not be read"
    message_ja_template = "読み取れませんでした。紙を再スキャンしてください。"

    def __init__(self, detail: str = "", *, source: Path | str | None = None, page: int | None = None) -> None:
        self.detail = detail
        self.source = Path(source) if source is not None else None
        self.page = page
        super().__init__(str(self))

    def _facts(self) -> dict[str, object]:
        return {}

    def __reduce__(self) -> tuple[object, ...]:
        # subclasses take different constructor arguments; pickle (Prefect, multiprocessing) by state
        return (_restore, (type(self), self.__dict__.copy()))

    @property
    def message_ja(self) -> str:
        msg = self.message_ja_template.format(**self._facts())
        if self.page is not None:
            msg = f"{self.page + 1}ページ目：{msg}"
        return msg

    def __str__(self) -> str:
        parts = []
        if self.source is not None:
            parts.append(f"{self.source.name}: ")
        if self.page is not None:
            parts.append(f"page {self.page + 1}: ")
        parts.append(self.message_en.format(**self._facts()))
        if self.detail:
            parts.append(f" ({self.detail})")
        return "".join(parts)


class EmptyFileError(MadoguchiError):
    code = "empty_file"
    message_en = "the file is empty (0 bytes); scan the paper again"
    message_ja_template = "ファイルが空です（0バイト）。スキャンが途中で止まった可能性があります。紙を再スキャンしてください。"


class UnsupportedFileError(MadoguchiError):
    code = "unsupported_file"
    message_en = "not a PDF, TIFF, PNG or JPEG file; save the scan in one of these formats"
    message_ja_template = (
        "対応していないファイル形式です。スキャナーの保存形式をPDF・TIFF・PNG・JPEGのいずれかにして、"
        "再スキャンしてください。"
    )


class CorruptFileError(MadoguchiError):
    code = "corrupt_file"
    message_en = "the file is damaged or incomplete; scan the paper again"
    message_ja_template = (
        "ファイルが壊れているか、途中までしか保存されていません。紙を再スキャンしてください。"
    )


class EncryptedPdfError(MadoguchiError):
    code = "encrypted_pdf"
    message_en = "the PDF is password-protected; remove the password and save it again, or rescan the paper"
    message_ja_template = (
        "PDFにパスワードが設定されているため読み取れません。"
        "パスワードを外して保存し直すか、紙を再スキャンしてください。"
    )


class TooManyPagesError(MadoguchiError):
    code = "too_many_pages"
    message_en = "the file has {count} pages, more than the limit of {limit}; scan each application separately"
    message_ja_template = (
        "ページ数が多すぎます（{count_ja}、上限は{limit}ページ）。"
        "申請書ごとに分けてスキャンしてください。"
    )

    def __init__(self, pages: int | None, limit: int, *, source: Path | str | None = None) -> None:
        """`pages` None: more than `limit`, not counted further (a TIFF's frames are counted one by one)."""
        self.pages = pages
        self.limit = limit
        super().__init__(source=source)

    def _facts(self) -> dict[str, object]:
        if self.pages is None:
            return {"count": f"{self.limit + 1} or more", "count_ja": f"{self.limit + 1}ページ以上", "limit": self.limit}
        return {"count": self.pages, "count_ja": f"{self.pages}ページ", "limit": self.limit}


class BlankPageError(MadoguchiError):
    code = "blank_page"
    message_en = "the page is blank (no ink found); check that the right side of the paper was scanned"
    message_ja_template = (
        "白紙のページです。用紙の裏表が逆になっていないか確認して、記入面を再スキャンしてください。"
    )


class UnknownFormError(MadoguchiError):
    code = "unknown_form"
    message_en = "the page is not one of the known application forms"
    message_ja_template = (
        "対応している申請書として認識できませんでした。対応している様式か確認し、"
        "用紙全体がまっすぐ写るように再スキャンしてください。"
    )


class _PagesError(MadoguchiError):
    """A form of several pages whose pages are not all there, in order."""

    def __init__(self, form_title: str, expected: int, found: int, *, source: Path | str | None = None,
                 page: int | None = None) -> None:
        self.form_title = form_title
        self.expected = expected  # pages of the form; for PageOrderError, the page expected here
        self.found = found  # pages in the file; for PageOrderError, the page of the form found here
        super().__init__(source=source, page=page)

    def _facts(self) -> dict[str, object]:
        return {"title": self.form_title, "expected": self.expected, "found": self.found}


class MissingPageError(_PagesError):
    code = "missing_page"
    message_en = "{title} has {expected} pages but the file holds {found}; scan all its pages into one file"
    message_ja_template = (
        "「{title}」は{expected}枚の申請書ですが、ファイルには{found}枚しかありません。"
        "全ページをまとめて1つのファイルに再スキャンしてください。"
    )


class WrongPageError(_PagesError):
    code = "wrong_page"
    message_en = "this page is not page {expected} of {title}; another paper may be mixed in"
    message_ja_template = (
        "「{title}」の{expected}枚目として認識できませんでした。別の書類が混ざっていないか確認し、"
        "全ページを順番どおりに再スキャンしてください。"
    )


class PageOrderError(_PagesError):
    code = "page_order"
    message_en = "page {found} of {title} is where page {expected} should be; put the pages in order"
    message_ja_template = (
        "「{title}」のページの順番が違います（{expected}枚目の位置に{found}枚目があります）。"
        "1枚目から順番どおりに並べて再スキャンしてください。"
    )


class WrongFormError(MadoguchiError):
    code = "wrong_form"
    message_en = "the page does not register to {asked}; identification finds {found}"
    message_ja_template = (
        "指定の様式（{asked}）として位置合わせできませんでした。識別では {found} と判定されます。"
        "様式の指定か、スキャンした用紙を確かめてください。"
    )

    def __init__(self, asked: str, found: str, detail: str = "", *, source: Path | str | None = None,
                 page: int | None = None) -> None:
        self.asked = asked
        self.found = found
        super().__init__(detail, source=source, page=page)

    def _facts(self) -> dict[str, object]:
        return {"asked": self.asked, "found": self.found}


def _pixels_ja(pixels: int) -> str:
    """A pixel count as a clerk reads a camera's: 「8,700万画素」, 「1.5億画素」."""
    if pixels >= 100_000_000:
        return f"{pixels / 1e8:.1f}".removesuffix(".0") + "億画素"
    return f"{pixels / 10_000:,.0f}万画素"


class PageTooLargeError(MadoguchiError):
    """A page that would take more pixels than the limit once decoded: a decompression bomb, or a
    PDF page of metres at the render dpi. Refused from its header, before any pixel is decoded."""

    code = "page_too_large"
    message_en = ("the page is {size}more than the limit of {limit:.0f} megapixels; scan at about 300 dpi and "
                  "at the paper's real size (A4, A3)")
    message_ja_template = (
        "ページの画像が大きすぎます（{size_ja}上限は{limit_ja}）。"
        "解像度を300dpi程度、用紙サイズを実際の大きさ（A4・A3など）にして再スキャンしてください。"
    )

    def __init__(self, width: int | None, height: int | None, limit: int, detail: str = "", *,
                 source: Path | str | None = None, page: int | None = None) -> None:
        """`width`, `height` None: Pillow refused the image before saying how big it is."""
        self.width, self.height, self.limit = width, height, limit
        super().__init__(detail, source=source, page=page)

    def _facts(self) -> dict[str, object]:
        size = size_ja = ""
        if self.width is not None and self.height is not None:
            pixels = self.width * self.height
            size = f"{self.width} x {self.height} pixels ({pixels / 1e6:.0f} megapixels), "
            size_ja = f"{self.width}×{self.height}画素、{_pixels_ja(pixels)}。"
        return {"size": size, "size_ja": size_ja, "limit": self.limit / 1e6, "limit_ja": _pixels_ja(self.limit)}


class FileTooLargeError(MadoguchiError):
    """All pages of one file together take more pixels than the limit (a TIFF of many huge frames)."""

    code = "file_too_large"
    message_en = ("the file's pages take {megapixels:.0f} megapixels together, more than the limit of {limit:.0f}; "
                  "scan each application separately, at about 300 dpi")
    message_ja_template = (
        "ファイル全体の画像が大きすぎます（全ページで{pixels_ja}、上限は{limit_ja}）。"
        "申請書ごとに分けて、解像度300dpi程度で再スキャンしてください。"
    )

    def __init__(self, pixels: int, limit: int, *, source: Path | str | None = None) -> None:
        self.pixels, self.limit = pixels, limit
        super().__init__(source=source)

    def _facts(self) -> dict[str, object]:
        return {"megapixels": self.pixels / 1e6, "limit": self.limit / 1e6,
                "pixels_ja": _pixels_ja(self.pixels), "limit_ja": _pixels_ja(self.limit)}


class PageShapeError(MadoguchiError):
    """A page too small or too long and thin to hold a form (a thumbnail, a strip, 1 x 5000 pixels)."""

    code = "page_shape"
    message_en = "the page is {width} x {height} pixels, too small or too narrow to be a form; scan the whole paper"
    message_ja_template = (
        "ページの大きさ・縦横比が申請書として読める範囲を外れています（{width}×{height}画素）。"
        "用紙全体が写るように再スキャンしてください。"
    )

    def __init__(self, width: int, height: int, *, source: Path | str | None = None, page: int | None = None) -> None:
        self.width, self.height = width, height
        super().__init__(source=source, page=page)

    def _facts(self) -> dict[str, object]:
        return {"width": self.width, "height": self.height}


class LoadTimeoutError(MadoguchiError):
    """poppler took longer than the time allowed for one file: a pathological PDF must not hold a worker."""

    code = "load_timeout"
    message_en = "reading the PDF took more than {seconds:.0f} s and was stopped; save or scan it again"
    message_ja_template = (
        "PDFの読み込みに時間がかかりすぎたため中止しました（{seconds:.0f}秒）。"
        "スキャナーで保存し直すか、紙を再スキャンしてください。"
    )

    def __init__(self, seconds: float, detail: str = "", *, source: Path | str | None = None,
                 page: int | None = None) -> None:
        self.seconds = seconds
        super().__init__(detail, source=source, page=page)

    def _facts(self) -> dict[str, object]:
        return {"seconds": self.seconds}


class DecoderFailedError(CorruptFileError):
    """A decoder (Pillow, qpdf) failed on the file in a way we did not foresee. The file is still
    quarantined with its reason rather than crashing the worker; the detail names the exception."""

    code = "decoder_failed"
    message_en = "the file could not be decoded (an unexpected error in the image decoder); scan the paper again"
    message_ja_template = (
        "ファイルを読み込めませんでした（読み込み処理で想定外のエラー）。紙を再スキャンしてください。"
        "同じファイルで繰り返す場合は、システム担当者に連絡してください。"
    )


class SymlinkError(MadoguchiError):
    """A symbolic link in the inbox: never followed, so a link to another file, a folder or nowhere
    cannot make us read (or change the mode of) something outside the inbox."""

    code = "symlink"
    message_en = "a symbolic link, not a file; links are never followed: put the scan itself into the inbox"
    message_ja_template = (
        "ファイルではなくリンク（シンボリックリンク）が置かれていたため、読み取っていません。"
        "スキャンしたファイルそのものを受付箱に置いてください。"
    )


class PopplerMissingError(MadoguchiError):
    code = "poppler_missing"
    message_en = "poppler (pdfinfo/pdftoppm) is not installed; install poppler-utils"
    message_ja_template = (
        "PDFを読み込むためのソフトウェア（poppler）が見つかりません。システム担当者に連絡してください。"
    )


def _restore(cls: type[MadoguchiError], state: dict[str, object]) -> MadoguchiError:
    err = cls.__new__(cls)
    err.__dict__.update(state)
    err.args = (str(err),)
    return err
