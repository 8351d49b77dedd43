"""`madoguchi bench-replay`: decide a bench run's saved readings again.

Reading 150 documents takes minutes; deciding them again takes a second. So a change to the
decision rule (ocr/decide.py, the thresholds) is judged on the same readings before and after:
`madoguchi bench --seed 424242 --save-raws` once (the tuning seed: held-out training digits), then
this after every change. Per field kind it counts fields, exact best readings, accepted, wrong among
accepted, and for the fields read right but not accepted, the reasons that held them back.
"""

from __future__ import annotations

import pickle
from collections import Counter
from pathlib import Path

from flows.bench.evaluate import Tally, same
from flows.bench.reading import DIGIT_KINDS, TODAY
from ocr.decide import decide_fields
from ocr.validate import Context
from schemas.settings import DecisionSettings


def replay(path: Path, cfg: DecisionSettings) -> dict:
    """Tallies per field kind ("all", "digit_kinds", "form:<id>" too) and, per kind, how often each
    reason held back a field whose best reading was right, with examples."""
    saved = pickle.loads(path.read_bytes())  # noqa: S301 - our own bench's output
    tallies: dict[str, Tally] = {}
    held: dict[str, Counter] = {}
    examples: dict[str, dict[str, list[str]]] = {}
    ctx = Context(today=TODAY, values={})
    cfg = cfg.model_copy(update={"min_readers": 1})  # as the bench decides (every reader is in the saved readings)
    for doc in saved["documents"]:
        decided = decide_fields(doc["raws"], cfg, ctx)
        for name, f in decided.items():
            truth = doc["truth"][name]
            ok = same(f.value, truth)
            example = f"{doc['document']}:{name}: read {f.value!r}, truth {truth!r}"  # as the bench writes it
            for key in (f.kind, "all", f"form:{doc['form']}", *(("digit_kinds",) if f.kind in DIGIT_KINDS else ())):
                tallies.setdefault(key, Tally()).add(f.status.value, ok, example)
            if ok and f.status.value != "accepted":
                reason = "+".join(sorted(f.reasons)) or "(none)"
                held.setdefault(f.kind, Counter())[reason] += 1
                examples.setdefault(f.kind, {}).setdefault(reason, []).append(f"{example}, readings {f.readings}")
    return {
        "seed": saved.get("seed"),
        "documents": len(saved["documents"]),
        "tallies": {k: t.as_dict() for k, t in sorted(tallies.items())},
        "held_back": {k: dict(c.most_common()) for k, c in sorted(held.items())},
        "held_back_examples": examples,
    }


def format_replay(result: dict, *, examples: int = 0, kinds: set[str] | None = None) -> str:
    lines = [f"{result['documents']} documents, seed {result['seed']}", "",
             f"{'kind':32} {'fields':>6} {'exact':>7} {'accepted':>8} {'wrong':>5} {'95% up':>7}"]
    for key, t in result["tallies"].items():
        lines.append(f"{key:32} {t['fields']:6d} {t['exact']:7.1%} {t['straight_through']:8.1%} "
                     f"{t['accepted_wrong']:5d} {t['accepted_error_95_upper']:7.2%}")
    wrong = [w for key, t in result["tallies"].items() if key not in ("all", "digit_kinds") and not key.startswith("form:")
             for w in t["wrong_examples"]]
    if wrong:
        lines += ["", "wrong and accepted:", *(f"  {w}" for w in wrong)]
    lines += ["", "read right but held back, by reasons:"]
    for kind, reasons in result["held_back"].items():
        lines.append(f"  {kind}: " + ", ".join(f"{r} {n}" for r, n in reasons.items()))
        if examples and (kinds is None or kind in kinds):
            for reason in reasons:
                for e in result["held_back_examples"][kind][reason][:examples]:
                    lines.append(f"      [{reason}] {e}")
    return "\n".join(lines)
