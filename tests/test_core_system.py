"""The stand-in core system on its own (no browser): what it stores, finds and refuses."""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from datetime import date
from http.cookiejar import CookieJar

import pytest

from samples.core_system.app import Behaviour, CoreSystem, validate
from samples.core_system.screens import SCREENS
from tests.core_system import PASSWORD, USER, control, core_system


def _form(**items: str) -> dict[str, str]:
    base = {"todokedebi_era": "R", "todokedebi_y": "8", "todokedebi_m": "11", "todokedebi_d": "2",
            "shimei": "山田 花子", "furigana": "ヤマダ ハナコ", "seinengappi_era": "H", "seinengappi_y": "2",
            "seinengappi_m": "3", "seinengappi_d": "4", "yubin": "7440022", "jusho": "山口県下松市末武下1番地",
            "yotei_era": "R", "yotei_y": "9", "yotei_m": "5", "yotei_d": "1", "shusu": "12"}
    return {**base, **items}


def test_valid_input_is_stored_normalised():
    values, errors = validate(SCREENS["ninshin"], _form(), date(2026, 11, 27))
    assert errors == {}
    assert (values["todokedebi"], values["seinengappi"], values["yubin"], values["shusu"]) == (
        "2026-11-02", "1990-03-04", "744-0022", 12)
    assert values["shindan"] is False and values["shokugyo"] is None


@pytest.mark.parametrize("change, item, message", [
    ({"furigana": "やまだ はなこ"}, "furigana", "フリガナは全角カタカナで入力してください"),
    ({"shusu": "60"}, "shusu", "妊娠週数は1から45までの数字で入力してください"),
    ({"seinengappi_era": "H", "seinengappi_y": "31", "seinengappi_m": "5", "seinengappi_d": "1"}, "seinengappi",
     "生年月日は存在しない日付です"),  # 平成 ended on 30 April 2019
    ({"yotei_y": "8", "yotei_m": "10"}, "yotei", "出産予定日が届出日より前になっています"),
    ({"shimei": ""}, "shimei", "氏名を入力してください"),
    ({"yubin": "74400"}, "yubin", "郵便番号は「744-0000」の形式で入力してください"),
])
def test_server_side_validation_names_the_item(change, item, message):
    _, errors = validate(SCREENS["ninshin"], _form(**change), date(2026, 11, 27))
    assert errors == {item: message}


def test_search_by_atena_number_name_and_birth_date_or_remarks(tmp_path):
    core = CoreSystem(tmp_path / "core.db", {USER: PASSWORD})
    values, _ = validate(SCREENS["ninshin"], _form(atena_no="0000012345", biko="AI-OCR入力 MDG-x"), date(2026, 11, 27))
    receipt = core.commit("ninshin", values, USER)
    assert receipt == f"NS{date.today().year}-000001"
    assert [r["receipt"] for r in core.search(atena_no="0000012345")] == [receipt]
    assert [r["receipt"] for r in core.search(shimei="山田", seinengappi="1990-03-04")] == [receipt]
    assert core.search(shimei="山田", seinengappi="1990-03-05") == []
    assert [r["receipt"] for r in core.search(biko="MDG-x")] == [receipt]
    assert core.search() == []


@pytest.mark.parametrize("window, now, inside", [(("02:00", "04:00"), "03:00", True), (("02:00", "04:00"), "04:00", False),
                                                 (("23:00", "01:00"), "00:30", True), (("23:00", "01:00"), "22:59", False)])
def test_the_maintenance_window_wraps_midnight(tmp_path, monkeypatch, window, now, inside):
    import samples.core_system.app as app

    real = app.datetime

    class Clock:
        @staticmethod
        def now():
            return real.strptime(f"2026-11-27 {now}", "%Y-%m-%d %H:%M")

    monkeypatch.setattr(app, "datetime", Clock)
    assert CoreSystem(tmp_path / "c.db", {}, Behaviour(maintenance=window)).in_maintenance() is inside


def test_login_sessions_expire_and_maintenance_answers_503(tmp_path):
    with core_system(tmp_path / "core.db", session_seconds=0.5) as (_, url):
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
        body = urllib.parse.urlencode({"user": USER, "password": PASSWORD}).encode()
        assert "業務メニュー" in opener.open(f"{url}/login", data=body).read().decode()
        import time

        time.sleep(0.7)
        page = opener.open(f"{url}/menu")
        assert page.url.endswith("/login?expired=1") and "有効期限が切れました" in page.read().decode()
        control(url, maintenance=True)
        with pytest.raises(urllib.error.HTTPError) as e:
            opener.open(f"{url}/login")
        assert e.value.code == 503 and "メンテナンス中" in e.value.read().decode()
