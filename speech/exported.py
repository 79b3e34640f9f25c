"""The speech network's ONNX export: the network it holds (`with_log_mel`) and that network run
by onnxruntime (`ExportedModel`), the demo without torch.

`portfolio export speech` writes the whole network (waveform -> word logits and log-mel features)
with the class names and the checkpoint's hash in its metadata; without torch's import the demo
runs in a fraction of the memory (model card). Torch is imported only where the network is built.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from common.export import ExportError, open_session

if TYPE_CHECKING:
    import torch

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


def with_log_mel(net: torch.nn.Module) -> torch.nn.Module:
    """The speech network for ONNX: (logits, its normalised log-mel features (B, 1, n_mels, T)),
    the second for the demo's figure (the ONNX path has no torch to compute them). Its STFT is
    computed as an explicit DFT in float64: onnxruntime's DFT of a 480-point frame is about 15
    times less accurate than torch's FFT, enough to move the logits by 2e-4 (> the tolerance).
    Its input is a 1-second clip, (B, 16000) at the front end's sample rate."""
    import copy

    import torch

    net = copy.deepcopy(net)
    mel = net.features.mel
    mel.spectrogram = dft_spectrogram(mel.spectrogram, samples=mel.sample_rate)  # 1 s clips

    class WithLogMel(torch.nn.Module):
        def __init__(self, spotter: torch.nn.Module):
            super().__init__()
            self.spotter = spotter

        def forward(self, wav: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            features = self.spotter.features(wav)  # (B, 1, n_mels, T)
            return self.spotter(wav, features=features), features  # (B, n_classes), gated vote

    return WithLogMel(net).eval()


def dft_spectrogram(spec, samples: int):
    """torchaudio's power Spectrogram (centred, reflect-padded, one-sided) of clips of `samples`
    samples as frames @ a windowed DFT basis, in float64. The frames are gathered by a constant
    index, not `unfold`: the TorchScript-based ONNX exporter (common.export) has no `unfold` of
    a tensor whose size it does not know; the same numbers."""
    import torch
    import torch.nn.functional as F

    expected = {"pad": 0, "power": 2.0, "normalized": False, "center": True, "onesided": True}
    if any(getattr(spec, k) != v for k, v in expected.items()) or spec.pad_mode != "reflect":
        raise ExportError(
            f"the speech front end's spectrogram ({spec}) is not one this export knows"
        )
    if spec.win_length != spec.n_fft:
        raise ExportError("the speech front end's window is shorter than its FFT; not supported")

    class Dft(torch.nn.Module):
        def __init__(self):
            super().__init__()
            n_fft, self.hop = spec.n_fft, spec.hop_length
            n = torch.arange(n_fft, dtype=torch.float64)[:, None]
            k = torch.arange(n_fft // 2 + 1, dtype=torch.float64)[None, :]
            angle = 2 * torch.pi * n * k / n_fft  # (n_fft, F)
            window = spec.window.double()[:, None]
            self.register_buffer("basis", torch.cat([angle.cos(), -angle.sin()], 1) * window)
            padded = samples + n_fft // 2 * 2  # centred: reflect-padded by n_fft // 2 each side
            starts = torch.arange(0, padded - n_fft + 1, self.hop)
            self.register_buffer("frames", starts[:, None] + torch.arange(n_fft))  # (T, n_fft)

        def forward(self, wav: torch.Tensor) -> torch.Tensor:
            n_fft = self.basis.shape[0]
            x = F.pad(wav[:, None], (n_fft // 2, n_fft // 2), mode="reflect")[:, 0]
            frames = x[:, self.frames].double()  # (B, T, n_fft), as x.unfold(-1, n_fft, hop)
            re, im = (frames @ self.basis).chunk(2, dim=-1)  # (B, T, F) each
            return (re.square() + im.square()).float().transpose(1, 2)  # (B, F, T)

    return Dft()
