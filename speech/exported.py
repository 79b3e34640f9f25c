"""The speech network's ONNX export run by onnxruntime: the demo without torch.

`portfolio export speech` writes the whole network (waveform -> word logits and log-mel features)
with the class names and the checkpoint's hash in its metadata; without torch's import the demo
runs in a fraction of the memory (model card).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from common.export import ExportError, open_session

INPUT, LOGITS, LOG_MEL = "waveform", "logits", "log_mel"


class ExportedModel:
    """What the demo needs of a trained speech model, from its ONNX export: `class_names`,
    `predict_proba(windows)` and `log_mel(clip)` on NumPy arrays.

    Args:
        path: an `.onnx` file written by `portfolio export speech`.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self.session = open_session(self.path, "speech")
        meta = self.session.get_modelmeta().custom_metadata_map
        what = meta.get("mal2.assignment")
        if what != "speech":
            made = (
                f"the {what} network's export"
                if what
                else "not an export of this portfolio (or one made before exports carried "
                "their class names)"
            )
            raise ExportError(
                f"{self.path} is {made}, not the speech network's; export a speech checkpoint "
                "with `portfolio export speech --ckpt CKPT`"
            )
        inputs = {i.name: i.shape for i in self.session.get_inputs()}
        outputs = {o.name for o in self.session.get_outputs()}
        if inputs.get(INPUT, [None])[-1:] != [16000] or not {LOGITS, LOG_MEL} <= outputs:
            raise ExportError(
                f"{self.path} takes {inputs} and gives {sorted(outputs)}, not a waveform "
                f"(B, 16000) -> {LOGITS}, {LOG_MEL}; export it again with `portfolio export speech`"
            )
        self.class_names = list(json.loads(meta["mal2.class_names"]))

    def _run(self, name: str, wavs: np.ndarray) -> np.ndarray:
        wavs = np.ascontiguousarray(wavs, dtype=np.float32)  # (B, 16000)
        return self.session.run([name], {INPUT: wavs})[0]

    def predict_proba(self, wavs: np.ndarray) -> np.ndarray:
        """Class probabilities for 16 kHz 1-second clips (B, 16000) -> (B, n_classes)."""
        logits = self._run(LOGITS, wavs)
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def log_mel(self, clip: np.ndarray) -> np.ndarray:
        """The normalised log-mel features of one 1-second clip (16000,) -> (n_mels, T)."""
        return self._run(LOG_MEL, np.asarray(clip)[None])[0, 0]
