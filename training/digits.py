"""Train the digit reader and write it as ONNX: `make train-digits` (27 minutes on 2 idle cores with bfloat16).

Data: the 60,000 MNIST training digits (55,000 trained on, 5,000 held out), the UCI sets of
other writers (optdigits: 30 + 13 writers, the 13 held out; semeion) and 3,000 digits in Debian's
handwriting fonts (the Japanese hand's flagged 1), drawn into cells by `training.cells`. The held-out
part picks the epoch and fits the temperature that makes the probabilities honest. Two members
(`MEMBER_SEEDS`), each on its own draw of the examples, are written as one network that averages
their calibrated probabilities (`ensemble`). The MNIST test split is not read here: `madoguchi
digits` reports on it.

The defaults make the shipped file (2026-12-06, session 26): two `bn3` networks (3 x 3 convolutions with
batch norm), 12 epochs each at batches of 256 in bfloat16, which this machine's CPU multiplies natively
(AMX): 55-60 s an epoch. Where the CPU has no bfloat16 it is emulated and takes hours; `--precision fp32`
trains there, another file, 2-6 times slower a step. `--net cnn5 --precision fp32 --batch 128` is the
recipe of the file shipped before (two 5 x 5 networks, 2.29% held-out error against this one's 1.76%).

Needs torch and onnx, which only this script uses (the Makefile puts them in `.venv-train/`);
the product runs the model on ONNX Runtime.
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from ocr.digit_reader import MODEL_PATH, NOT_A_DIGIT, SIDE
from training.cells import load_digits, make_examples

SEED = 20261130
# one member per seed, each trained on its own draw of the examples; the reader averages their
# probabilities (2026-12-05: the second member was added, the first is the single model of 2026-11-30)
MEMBER_SEEDS = (SEED, 20261205)
TRAIN_PLAN = {"mnist_train": (2, 12000), "optdigits_train": (4, 1200), "semeion_train": (4, 800),
              "font_digits": (2, 0)}
VAL_PLAN = {"mnist_val": (1, 800), "optdigits_windep": (2, 400), "semeion_val": (2, 100)}  # copies, negatives


def build(data: Path, plan: dict[str, tuple[int, int]], seed: int, workers: int) -> tuple[np.ndarray, np.ndarray]:
    """Drawn and normalised examples for every source in `plan`, made in `workers` processes."""
    sources = load_digits(data)
    jobs = []
    for n, (name, (copies, negatives)) in enumerate(plan.items()):
        x, y = sources[name]
        for part in range(workers):
            sl = slice(part, None, workers)
            jobs.append((x[sl], y[sl], copies, negatives // workers, seed + 100 * n + part))
    with ProcessPoolExecutor(workers) as pool:
        done = list(pool.map(_make, jobs))
    return np.concatenate([d[0] for d in done]), np.concatenate([d[1] for d in done])


def _make(job):
    return make_examples(*job)


def network(kind: str = "cnn5"):
    """cnn5: two 5 x 5 convolutions and two dense layers: 0.86 M weights, about 0.4 ms a training example on
    2 cores in float32. bn3: four 3 x 3 convolutions with batch norm (32, 32, 64, 64 channels) and the same
    dense layers, 0.87 M weights; 2-6 times slower in float32, 1.8 times cnn5's step in bfloat16."""
    import torch.nn as nn

    if kind == "bn3":
        def block(a: int, b: int) -> list:
            return [nn.Conv2d(a, b, 3, padding=1, bias=False), nn.BatchNorm2d(b), nn.ReLU()]

        features = [*block(1, 32), *block(32, 32), nn.MaxPool2d(2), *block(32, 64), *block(64, 64), nn.MaxPool2d(2)]
    else:
        features = [nn.Conv2d(1, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),  # 14 x 14
                    nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2)]  # 7 x 7
    return nn.Sequential(  # made in this order (features, then the dense layers): a seed's weights depend on it
        *features, nn.Flatten(), nn.Dropout(0.25), nn.Linear(64 * 49, 256), nn.ReLU(), nn.Dropout(0.4),
        nn.Linear(256, NOT_A_DIGIT + 1),
    )


def _tensor(x: np.ndarray):
    import torch

    return torch.from_numpy(x.astype(np.float32) / 255.0).unsqueeze(1)


def _shift(xb, gen):
    """Move each image by up to 2 px (the normaliser centres by mass; handwriting is not exact)."""
    import torch

    pad = torch.nn.functional.pad(xb, (2, 2, 2, 2))
    dx, dy = torch.randint(0, 5, (2,), generator=gen).tolist()
    return pad[:, :, dy : dy + SIDE, dx : dx + SIDE]


def logits_of(model, x: np.ndarray) -> np.ndarray:
    import torch

    model.eval()
    with torch.no_grad():
        return np.concatenate([model(_tensor(x[i : i + 1024])).numpy() for i in range(0, len(x), 1024)])


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature that minimises the held-out negative log-likelihood (a grid, then refined)."""
    def nll(t: float) -> float:
        z = logits / t
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return float(-logp[np.arange(len(labels)), labels].mean())

    grid = np.exp(np.linspace(np.log(0.3), np.log(5.0), 60))
    best = min(grid, key=nll)
    fine = np.linspace(best * 0.9, best * 1.1, 41)
    return float(min(fine, key=nll))


def bf16_ok() -> bool:
    """Whether this CPU multiplies bfloat16 natively (AVX-512 BF16 or AMX): 2.9x faster a training
    example here with batches of 256 in channels-last memory; elsewhere bfloat16 is emulated and slow."""
    import torch

    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())


def train(x: np.ndarray, y: np.ndarray, vx: np.ndarray, vy: np.ndarray, epochs: int, log,
          seed: int = SEED, batch: int = 128, bf16: bool = False, net: str = "cnn5") -> tuple[object, list[dict]]:
    import torch

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = network(net)
    # channels-last is what makes bfloat16 fast here (0.344 -> 0.156 ms an example at 256); fp32 keeps
    # the layout the shipped model was trained in, so the same seeds give the same weights
    memory = torch.channels_last if bf16 else torch.contiguous_format
    model = model.to(memory_format=memory)
    steps = epochs * ((len(x) + batch - 1) // batch)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps, pct_start=0.2)
    loss_fn = torch.nn.CrossEntropyLoss()
    xt, yt = _tensor(x), torch.from_numpy(y)
    history, best, best_state = [], None, None
    for epoch in range(epochs):
        model.train()
        start, total = time.time(), 0.0
        for idx in torch.randperm(len(xt), generator=gen).split(batch):
            opt.zero_grad()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                loss = loss_fn(model(_shift(xt[idx], gen).contiguous(memory_format=memory)), yt[idx])
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        err = float((logits_of(model, vx).argmax(1) != vy).mean())
        history.append({"epoch": epoch + 1, "train_loss": round(total / len(xt), 4),
                        "held_out_error": round(err, 5), "seconds": round(time.time() - start, 1)})
        log(f"epoch {epoch + 1}/{epochs}: loss {total / len(xt):.4f}, held-out error {err:.4%} "
            f"({time.time() - start:.0f} s)")
        if best is None or err <= best:
            best, best_state = err, {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    return model.to(memory_format=torch.contiguous_format), history


def export(model, out: Path, temperature: float, meta: dict) -> None:
    import onnx
    import torch

    model.eval()
    torch.onnx.export(model, torch.zeros(1, 1, SIDE, SIDE), str(out), dynamo=False, input_names=["cells"],
                      output_names=["logits"], dynamic_axes={"cells": {0: "n"}, "logits": {0: "n"}},
                      opset_version=17)
    proto = onnx.load(str(out))
    for key, value in {"temperature": f"{temperature:.4f}", **meta}.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, str(value)
    onnx.save(proto, str(out))


def ensemble(members: list, temperatures: list[float]):
    """One network of the members: the log of their mean calibrated probabilities, as the logits
    the reader takes (softmax of them is that mean; the ensemble's own temperature is fitted after)."""
    import torch

    class Mean(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.members = torch.nn.ModuleList(members)

        def forward(self, x):
            probs = [torch.softmax(m(x) / t, dim=1) for m, t in zip(self.members, temperatures)]
            return torch.log(torch.stack(probs).mean(dim=0).clamp_min(1e-12))

    return Mean().eval()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"), help="folder with mnist/ and digits-uci/")
    parser.add_argument("--out", type=Path, default=MODEL_PATH)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--seeds", default=",".join(map(str, MEMBER_SEEDS)),
                        help="one member per seed: the seed of its examples and weights")
    parser.add_argument("--batch", type=int, default=256, help="training examples a step")
    parser.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="bf16",
                        help="bf16: bfloat16 arithmetic (fast only where the CPU has it); auto: bf16 where it has")
    parser.add_argument("--net", choices=("cnn5", "bn3"), default="bn3", help="the members' network (`network`)")
    parser.add_argument("--workers", type=int, default=2, help="processes drawing the examples")
    parser.add_argument("--threads", type=int, default=2,
                        help="torch threads (1 when other work shares the cores: 2 contended threads were 3x slower)")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    log = lambda msg: print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)  # noqa: E731
    bf16 = args.precision == "bf16" or (args.precision == "auto" and bf16_ok())
    if bf16 and not bf16_ok():
        log("this CPU has no native bfloat16: it is emulated, and training will take hours (--precision fp32 is "
            "faster here, but does not make the shipped file)")
    t0 = time.time()
    vx, vy = build(args.data, VAL_PLAN, SEED + 1, args.workers)  # the same held-out examples for every member
    members, temperatures, reports = [], [], []
    for seed in (int(s) for s in args.seeds.split(",")):
        x, y = build(args.data, TRAIN_PLAN, seed, args.workers)
        log(f"member {len(members) + 1}, seed {seed}: {len(x)} examples to train on, {len(vx)} held out "
            f"({time.time() - t0:.0f} s); classes {np.bincount(y).tolist()}")
        model, history = train(x, y, vx, vy, args.epochs, log, seed, args.batch, bf16, args.net)
        vlogits = logits_of(model, vx)
        members.append(model)
        temperatures.append(fit_temperature(vlogits, vy))
        reports.append({"seed": seed, "examples": int(len(x)), "temperature": round(temperatures[-1], 4),
                        "held_out_error": round(float((vlogits.argmax(1) != vy).mean()), 5), "epochs": history})
    model = ensemble(members, temperatures) if len(members) > 1 else members[0]
    vlogits = logits_of(model, vx)
    temperature = fit_temperature(vlogits, vy)
    err = float((vlogits.argmax(1) != vy).mean())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    export(model, args.out, temperature, {"held_out_error": f"{err:.5f}", "seeds": args.seeds})
    report = {"members": reports, "held_out": int(len(vx)), "held_out_error": round(err, 5),
              "temperature": round(temperature, 4), "minutes": round((time.time() - t0) / 60, 1),
              "batch": args.batch, "precision": "bf16" if bf16 else "fp32", "net": args.net,
              "train_plan": TRAIN_PLAN, "held_out_plan": VAL_PLAN}
    args.out.with_suffix(".training.json").write_text(json.dumps(report, indent=1))
    log(f"wrote {args.out} ({len(members)} members, held-out error {err:.4%}, temperature {temperature:.3f}, "
        f"{(time.time() - t0) / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
