"""The benchmark end to end on a tiny run: every section present, numbers consistent."""

import json

from tests.test_digits import MNIST


def test_bench_writes_results_for_each_engine_alone_and_combined(reader, tmp_path):
    """GIVEN one generated document WHEN benchmarked THEN results.json has per-variant tallies that
    add up, a curve per kind, speed per stage, and results.md and curves.png exist; the readings it
    saved, decided again by `bench-replay`, give the bench's own combined tallies."""
    from flows.bench.reading import run_bench
    from flows.bench.replay import replay

    report = run_bench(reader, tmp_path, docs=1, forms=["pregnancy_notification"], seed=3,
                       mnist=MNIST, mnist_fields=5, mnist_alone=50, save_raws=True, compare="HEAD")
    assert set(report["generated_documents"]) == {"paddle", "rapid", "paddle+rapid", "combined"}
    real = report["real_digit_documents"]
    assert real["documents"] == 1 and set(real["tallies"]) == set(report["generated_documents"])
    assert real["spacing"] == [-0.05, 0.12]  # the generator's writers
    for kinds in [*report["generated_documents"].values(), *real["tallies"].values()]:
        total = kinds["all"]
        assert total["fields"] == 13
        shares = total["straight_through"] + total["needs_review"] + total["invalid"]
        assert abs(shares - 1.0) < 1e-3
        assert kinds["digit_kinds"]["fields"] == sum(kinds[k]["fields"] for k in
                                                     ("digits", "postal_code", "amount", "wareki_date", "phone") if k in kinds)
    alone = report["handwritten_digits"]["digit_reader_alone"]
    assert alone["cells"] == 50 and alone["curve"][0]["coverage"] <= 1.0
    assert {"load", "register", "crop", "read", "decide", "persist"} <= set(report["speed"]["seconds_per_page"])
    sbs = report["speed"]["side_by_side"]  # the same document read by the code of a commit, here this one
    assert sbs["documents"] == 1 and sbs["fields"] == 13 and sbs["fields_read_differently"] == 0
    assert sbs["before"]["pages_per_minute"] > 0 and sbs["now"]["pages_per_minute"] > 0
    assert "read by commit HEAD's code" in (tmp_path / "results.md").read_text(encoding="utf-8")
    for variant, kinds in report["generated_documents"].items():  # review load is the tallies' other side
        load = report["review_load"][variant]
        to_review = round(13 * (kinds["all"]["needs_review"] + kinds["all"]["invalid"]))
        assert load["fields_per_document"] == to_review
        assert load["reviewer_seconds_per_document"] == to_review * load["assumed_seconds_per_field"]
    assert report["identification"] == {"pregnancy_notification": {"documents": 1, "identified": 1, "other_form": 0,
                                                                    "refused": {}}}
    assert report["generated_documents"]["combined"]["form:pregnancy_notification"]["fields"] == 13
    assert report["seed_role"] == "evaluation"
    assert json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))["documents"] == 1
    md = (tmp_path / "results.md").read_text(encoding="utf-8")
    assert "## Real handwritten digits and seals: combined" in md and "## Font-drawn: paddle+rapid" in md
    assert "the writers leave -0.05 to 0.12 of a character between characters" in md
    assert "## Review load" in md and "| pregnancy_notification | 1 | 1 = 100.0% | 0 | 0 |" in md
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for saved, tallies in (("raws-font.pkl", report["generated_documents"]), ("raws-real.pkl", real["tallies"])):
        again = replay(tmp_path / saved, reader.settings.decision)
        assert again["documents"] == 1 and again["seed"] == 3
        assert again["tallies"] == tallies["combined"]


def test_the_bench_command_runs_again_into_the_same_folder(engines, tmp_path, monkeypatch, capsys):
    """GIVEN a bench folder from an earlier run WHEN the bench runs again into it THEN it starts from
    a clean scratch database instead of failing on documents it recorded last time."""
    from flows import cli
    from flows.pipeline import Reader

    monkeypatch.setattr("flows.pipeline.Reader", lambda settings: Reader(settings, engines=engines))
    args = ["bench", "--quick", "--docs", "1", "--forms", "pregnancy_notification", "--out", str(tmp_path),
            "--mnist", str(tmp_path / "no-mnist")]
    assert cli.main(args) == cli.EXIT_OK
    assert cli.main(["bench-replay", str(tmp_path)]) == cli.EXIT_USAGE  # no readings were saved
    assert "--save-raws" in capsys.readouterr().err
    assert cli.main([*args, "--save-raws"]) == cli.EXIT_OK
    capsys.readouterr()
    assert cli.main(["bench-replay", str(tmp_path)]) == cli.EXIT_OK  # the folder: its real-digit set
    assert "documents, seed 777001" in capsys.readouterr().out  # (none here: no MNIST digits given)
    assert cli.main([*args, "--compare", "no-such-commit"]) == cli.EXIT_USAGE  # refused before reading anything
    assert cli.main([*args, "--spacing", "-0.2", "-0.3"]) == cli.EXIT_USAGE  # LO above HI
    assert json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))["documents"] == 1


def test_a_document_not_identified_is_counted_as_typed_by_hand(reader, tmp_path):
    """GIVEN a scan the reader refuses (a blank page where a form was expected) WHEN measured THEN
    the bench goes on, counts it refused by its reason, and every one of its fields as sent to a
    person, never accepted."""
    import shutil

    from flows.bench.reading import _measure
    from flows.pipeline import Timer
    from tests.conftest import SAMPLES

    path = tmp_path / "blank.png"
    shutil.copy(SAMPLES / "bad" / "blank-page.png", path)
    fields = {"name": "山田 花子", "phone": "0833-41-1234"}
    (tmp_path / "blank.truth.json").write_text(json.dumps({"form": "pregnancy_notification", "fields": fields}),
                                               encoding="utf-8")
    m = _measure(reader, [path], ["paddle", "rapid"], Timer())
    assert m["identification"] == {"pregnancy_notification": {"documents": 1, "identified": 0, "other_form": 0,
                                                              "refused": {"blank_page": 1}}}
    for kinds in m["tallies"].values():
        assert kinds["all"]["fields"] == 2 and kinds["all"]["needs_review"] == 1.0
        assert kinds["form:pregnancy_notification"]["straight_through"] == 0.0
    assert all(load["fields_per_document"] == 2 for load in m["review_load"].values())
