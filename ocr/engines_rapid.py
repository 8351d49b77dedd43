"""RapidOCR backend: the PP-OCRv6 small recogniser bundled in the rapidocr wheel, on ONNX Runtime.

Only model loading lives here; preprocessing and CTC decoding are shared in `ocr.engines`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

RunBatch = Callable[[np.ndarray], np.ndarray]


def load_rapid_rec(threads: int) -> tuple[RunBatch, list[str]]:
    """Load the recogniser; return (batch -> (N, T, C) softmax probabilities, class list).

    The class list has the CTC blank at index 0 and a space at the end, as RapidOCR builds it.
    """
    from rapidocr import RapidOCR

    engine = RapidOCR(
        params={
            "Global.use_det": False,
            "Global.use_cls": False,
            "Global.log_level": "warning",
            "EngineConfig.onnxruntime.intra_op_num_threads": threads,
            "EngineConfig.onnxruntime.inter_op_num_threads": 1,
        }
    )
    # RapidOCR loads its recogniser lazily on the first call; one tiny read loads and warms it.
    engine(np.full((48, 96, 3), 255, np.uint8), use_det=False, use_cls=False, use_rec=True)
    text_rec = engine.text_rec
    session = text_rec.session
    characters = list(text_rec.postprocess_op.character)

    def run(batch: np.ndarray) -> np.ndarray:
        return np.asarray(session(batch), dtype=np.float32)

    return run, characters


FindLines = Callable[[np.ndarray], np.ndarray]


def load_rapid_det(threads: int) -> FindLines:
    """Load the text detector bundled beside the recogniser (PP-OCRv6 small det); return a function
    from a BGR page to the quadrilaterals (N, 4, 2), px, of its printed text lines."""
    from rapidocr import RapidOCR

    engine = RapidOCR(
        params={
            "Global.use_rec": False,
            "Global.use_cls": False,
            "Global.log_level": "warning",
            "EngineConfig.onnxruntime.intra_op_num_threads": threads,
            "EngineConfig.onnxruntime.inter_op_num_threads": 1,
        }
    )

    def find(page: np.ndarray) -> np.ndarray:
        out = engine(page, use_det=True, use_cls=False, use_rec=False)
        boxes = getattr(out, "boxes", None)
        return np.zeros((0, 4, 2), np.float32) if boxes is None else np.asarray(boxes, np.float32).reshape(-1, 4, 2)

    return find
