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
    message_en = "the file has {pages} pages, more than the limit of {limit}; scan each application separately"
    message_ja_template = (
        "ページ数が多すぎます（{pages}ページ、上限は{limit}ページ）。"
        "申請書ごとに分けてスキャンしてください。"
    )

    def __init__(self, pages: int, limit: int, *, source: Path | str | None = None) -> None:
        self.pages = pages
        self.limit = limit
        super().__init__(source=source)

    def _facts(self) -> dict[str, object]:
        return {"pages": self.pages, "limit": self.limit}


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
