"""The stand-in core system's screens, as data: one data-entry screen per procedure.

Field ids are the system's own (romanised item names, as Japanese municipal systems often use);
labels are what a clerk sees. Codes are what the system stores for a select.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ERAS = {"M": "明治", "T": "大正", "S": "昭和", "H": "平成", "R": "令和"}  # code -> label, as in the 元号 select
SEXES = [("1", "男"), ("2", "女")]


@dataclass(frozen=True)
class Item:
    """One input of a screen. kind: text, kana, date, select, checkbox, number, postal, phone, digits, remarks."""

    id: str
    label: str
    kind: str = "text"
    required: bool = False
    options: list[tuple[str, str]] = field(default_factory=list)  # (code, label)
    min: int | None = None  # number: smallest value; digits: length
    max: int | None = None  # number: largest value; text: most characters
    past: bool = False  # date: must not be after today


def _common(prefix_label: str = "") -> list[Item]:
    return [
        Item("atena_no", "宛名番号", "digits", min=10),
        Item("shimei", f"{prefix_label}氏名", required=True, max=30),
        Item("furigana", "フリガナ", "kana", required=True, max=40),
        Item("seinengappi", "生年月日", "date", required=True, past=True),
        Item("seibetsu", "性別", "select", options=SEXES),
        Item("yubin", "郵便番号", "postal", required=True),
        Item("jusho", "住所", required=True, max=80),
        Item("denwa", "電話番号", "phone"),
    ]


@dataclass(frozen=True)
class Screen:
    code: str  # receipt number prefix
    title: str
    items: list[Item]

    def item(self, item_id: str) -> Item:
        return next(i for i in self.items if i.id == item_id)


SCREENS: dict[str, Screen] = {
    "jidou_teate": Screen("JT", "児童手当 認定請求", [
        Item("seikyubi", "請求日", "date", required=True, past=True),
        *_common(),
        Item("jido_shimei", "児童氏名", required=True, max=30),
        Item("jido_seinengappi", "児童生年月日", "date", required=True, past=True),
        Item("jido_su", "対象児童数", "number", required=True, min=1, max=9),
        Item("shotoku", "所得額", "number", min=0, max=99_999_999),
        Item("komuin", "公務員", "checkbox"),
        Item("koza", "口座番号", "digits", required=True, min=7),
        Item("zokugara", "児童との続柄", "select", required=True, options=[("1", "父"), ("2", "母"), ("9", "その他")]),
        Item("biko", "備考", "remarks", max=200),
    ]),
    "ninshin": Screen("NS", "妊娠届出", [
        Item("todokedebi", "届出日", "date", required=True, past=True),
        *_common(),
        Item("yotei", "出産予定日", "date", required=True),
        Item("shusu", "妊娠週数", "number", required=True, min=1, max=45),
        Item("shindan", "医師の診断", "checkbox"),
        Item("iryokikan", "医療機関名", max=60),
        Item("shoshan", "初めての妊娠", "select", options=[("1", "はい"), ("2", "いいえ")]),
        Item("shokugyo", "職業", "select", options=[("1", "会社員"), ("2", "自営業"), ("3", "無職"), ("9", "その他")]),
        Item("biko", "備考", "remarks", max=200),
    ]),
    "kaigo_nintei": Screen("KN", "要介護認定申請", [
        Item("shinseibi", "申請日", "date", required=True, past=True),
        Item("shinsei_kubun", "申請区分", "select", required=True,
             options=[("1", "新規"), ("2", "更新"), ("3", "区分変更")]),
        Item("hihokensha_no", "被保険者番号", "digits", required=True, min=10),
        *_common(),
        Item("shujii", "主治医氏名", max=30),
        Item("iryokikan", "医療機関名", max=60),
        Item("nyuin", "現在入院中", "checkbox"),
        Item("biko", "備考", "remarks", max=200),
    ]),
}
