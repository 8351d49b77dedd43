"""What reading a document produces: the `DIR/<stem>.json` contract of `madoguchi process`."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field


class FieldStatus(StrEnum):
    accepted = "accepted"  # entered without a human
    needs_review = "needs_review"  # a human must look: readers disagree, low confidence, unclear ink
    invalid = "invalid"  # read consistently, but the value fails a check (may be the applicant's mistake)


class DocumentStatus(StrEnum):
    accepted = "accepted"
    needs_review = "needs_review"
    rejected = "rejected"  # could not be read at all: quarantined with a reason


def reading_outcome(status: str) -> DocumentStatus:
    """What reading came to for a document, from its status in the database, which goes on after the
    reading (validated, review_rejected, entered): a copy of a reviewed or entered document is read
    as a copy, not a crash (the chaos run found intake stopped on one)."""
    if status in DocumentStatus.__members__:
        return DocumentStatus(status)
    return DocumentStatus.accepted if status in ("validated", "entered") else DocumentStatus.needs_review


# a field's or a document's status as clerks and reviewers read it (reports, artifacts, the terminal)
STATUS_JA = {"accepted": "自動確定", "needs_review": "要確認", "invalid": "要確認(不正値)", "rejected": "読取不可",
             "validated": "確認済み", "review_rejected": "差し戻し", "entered": "入力済み"}
REASONS_JA = {
    "engines_disagree": "読取結果が一致しません",
    "char_count_doubt": "文字の抜けまたは重複の疑いがあります（字間が不自然です）",
    "kana_mark_doubt": "「バ」と「パ」など濁点・半濁点の読み違いの疑いがあります（氏名の読みと合いません）",
    "low_confidence": "読取の確信度が低いです",
    "unread_ink": "記入がありますが読み取れない文字があります",
    "empty_required": "必須項目が空欄です",
    "single_reader": "1つの読取エンジンでしか読んでいません",
    "multiple_choices": "複数の選択肢に印があります",
    "tick_unclear": "印が薄いか、はみ出しています",
    "era_unclear": "元号に丸が付いていません",
    "validator:format": "書式が正しくありません",
    "validator:char_count": "桁数が足りません",
    "validator:katakana_only": "カタカナ以外の文字があります",
    "validator:small_kana_misplaced": "小さい「ッ・ャ」などの位置が読みとして不自然です",
    "validator:name_split": "姓と名の区切りが読み取れません",
    "validator:name_split_ambiguous": "姓と名の区切りが複数考えられます",
    "seal_over_field": "印影が記入欄に重なっています",
    "validator:postal_code_exists": "存在しない郵便番号です",
    "validator:postal_code_unconfirmed": "郵便番号が確定していないため住所を照合できません",
    "validator:address_matches_postal_code": "住所が郵便番号の地域と一致しません",
    "validator:address_numbering": "住所の番地の部分が読み取れないか、番地以外の文字（建物名など）があります",
    "validator:address_exists": "場所が実在する町名と番地として読み取れません",
    "validator:bank_exists": "存在しない金融機関コードです",
    "validator:branch_exists": "この金融機関にない支店コードです",
    "validator:relationship_exists": "続柄として読み取れません（長男、長女、子、孫など）",
    "validator:date_invalid": "存在しない日付です",
    "validator:date_plausible": "あり得ない年代の日付です",
    "validator:date_past": "未来の日付になっています",
    "validator:date_recent": "申請日が1年以上前か未来です",
    "validator:date_future": "予定日として不自然な日付です",
}


def reasons_ja(reasons: list[str]) -> list[str]:
    """The reasons in words a reviewer reads."""
    return [REASONS_JA.get(r, r) for r in reasons]


class FieldResult(BaseModel):
    value: str | int | bool | None
    status: FieldStatus
    confidence: float = Field(ge=0.0, le=1.0)
    reasons: list[str] = []
    reasons_ja: list[str] = Field(default_factory=list, description="the reasons in Japanese, for reviewers")
    readings: dict[str, str | None] = Field(default_factory=dict, description="each engine's reading")
    label: str = ""
    kind: str = ""


class DocumentError(BaseModel):
    code: str
    message: str
    message_ja: str


class DocumentResult(BaseModel):
    source: str
    sha256: str
    form: str | None = None
    form_title: str | None = None
    pages: int = 0
    fields: dict[str, FieldResult] = {}
    status: DocumentStatus
    errors: list[DocumentError] = []
    duplicate_of: str | None = Field(None, description="source of an earlier document with the same sha256")
    registration: dict[str, float | bool] = {}
    timings: dict[str, float] = Field(default_factory=dict, description="seconds per stage")
