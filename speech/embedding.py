"""A frozen front end trained on real speech: Google's speech_embedding (Lin et al., ICASSP 2020,
"Training keyword spotters with limited and synthesized speech data"), run in torch from the two
ONNX files that the `openwakeword` 0.4.0 wheel ships (its log-mel model and its re-implementation
of the embedding network). Nothing is downloaded; the weights stay frozen.

The embedding network is convolutional in time with a stride of 8 frames, so one pass over 100
frames gives the same 4 vectors as openWakeWord's 4 windows of 76 frames (775 ms) every 80 ms.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from common.errors import DataError

PACKAGE = "openwakeword"  # 0.4.0: the last release with the ONNX files inside the wheel
PAD = 240  # samples on each side of a 1 s clip: 16,480 samples -> 100 frames -> 4 windows
VERSION = 1  # of the cached embeddings (speech.data): bump when its numbers change (not rounding)


def model_files() -> tuple[Path, Path]:
    """(melspectrogram.onnx, embedding_model.onnx) inside the installed wheel."""
    spec = importlib.util.find_spec(PACKAGE)
    folder = Path(spec.origin).parent / "resources" / "models" if spec and spec.origin else None
    files = (folder / "melspectrogram.onnx", folder / "embedding_model.onnx") if folder else ()
    if not files or not all(f.is_file() for f in files):
        raise DataError(
            f"the pretrained speech embedding needs the {PACKAGE} 0.4.0 wheel (it ships the ONNX "
            f"files): pip install 'openwakeword==0.4.0', or train with --model.pretrained false"
        )
    return files


def _graph(path: Path) -> tuple[list, dict[str, np.ndarray]]:
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    return list(graph.node), {i.name: numpy_helper.to_array(i).copy() for i in graph.initializer}


def _attrs(node) -> dict:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


class SpeechEmbedding(nn.Module):
    """Waveforms (B, 16000) at 16 kHz in [-1, 1] -> embeddings (B, 96, 4), one per 775 ms window
    every 80 ms; frozen (buffers, not parameters, and not saved in checkpoints)."""

    def __init__(self):
        super().__init__()
        mel_file, emb_file = model_files()
        _, mel = _graph(mel_file)
        # the ONNX model's STFT: two convolutions, cosine and sine rows (257, 1, 512) times the
        # window; its k = 0 row, w[n] cos(0), is the window itself, for torch's FFT
        self.register_buffer("stft_re", torch.from_numpy(mel["0.stft.conv_real.weight"]), False)
        self.register_buffer("stft_im", torch.from_numpy(mel["0.stft.conv_imag.weight"]), False)
        self.register_buffer("window", self.stft_re[0, 0].clone(), False)  # (512,)
        self.register_buffer("mel_basis", torch.from_numpy(mel["1.melW"]), False)  # (257, 32)
        nodes, weights = _graph(emb_file)
        self.layers: list[tuple] = []  # (op, attributes, buffer names), run in order
        for i, node in enumerate(nodes):
            if node.op_type in ("Pad", "Reshape"):  # NHWC padding of the 32 bands, done below
                continue
            names = []
            for j, name in enumerate(n for n in node.input if n in weights):
                w = torch.from_numpy(weights[name])
                w = w.contiguous(memory_format=torch.channels_last) if w.dim() == 4 else w
                self.register_buffer(f"w{i}_{j}", w, False)
                names.append(f"w{i}_{j}")
            self.layers.append((node.op_type, _attrs(node), names))
        for buffer in self.buffers():
            buffer.requires_grad_(False)

    def log_mel(self, wav: torch.Tensor) -> torch.Tensor:
        """(B, 16000) -> (B, 100, 32): openWakeWord's log-mels (dB / 10 + 2), floored 80 dB
        below each clip's own peak (the ONNX model floors below the batch's)."""
        x = F.pad(wav.float(), (PAD, PAD)) * 32767.0  # int16 scale, (B, N)
        if torch.onnx.is_in_onnx_export():  # its exporter has no complex STFT: the convolutions
            re, im = (F.conv1d(x[:, None], w, stride=160) for w in (self.stft_re, self.stft_im))
            power = (re.square() + im.square()).transpose(1, 2)  # (B, T, 257)
        else:  # the same spectrum by FFT: a third of the convolutions' time at batch 1
            spec = torch.stft(x, 512, 160, window=self.window, center=False, return_complex=True)
            power = spec.abs().square().transpose(1, 2)  # (B, T, 257): 32 ms frames, 10 ms hop
        db = 10 * torch.log10((power @ self.mel_basis).clamp(min=1e-10))
        db = torch.maximum(db, db.amax(dim=(1, 2), keepdim=True) - 80.0)  # (B, T, 32)
        return db / 10 + 2

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        x = F.pad(self.log_mel(wav)[:, None], (1, 1))  # (B, 1, T, 34): the model's band padding
        x = x.contiguous(memory_format=torch.channels_last)  # oneDNN's fast layout: 1.7x here
        for op, attrs, names in self.layers:
            w = [getattr(self, n) for n in names]
            if op == "Conv":
                pads = attrs.get("pads", [0, 0, 0, 0])
                x = F.conv2d(x, w[0], w[1] if len(w) > 1 else None, padding=(pads[0], pads[1]))
            # in place: every map here is a fresh output of the op before (these element-wise
            # passes over the largest maps were a quarter of the embedding's time out of place)
            elif op == "Relu":
                x = F.relu(x, inplace=True)
            elif op == "BatchNormalization":
                x = F.batch_norm(x, w[2], w[3], w[0], w[1], False, 0.0, attrs["epsilon"])
            elif op == "LeakyRelu":
                x = F.leaky_relu(x, attrs["alpha"], inplace=True)
            elif op == "Max":
                x = x.clamp_min_(w[0].reshape(()))
            elif op == "MaxPool":
                x = F.max_pool2d(x, attrs["kernel_shape"], attrs["strides"])
            else:
                raise ValueError(f"{op} in the speech embedding's graph: not supported")
        return x[:, :, :, 0]  # (B, 96, T', 1) -> (B, 96, 4)


@torch.inference_mode()
def embed_clips(net: SpeechEmbedding, clips: torch.Tensor, batch: int = 32) -> torch.Tensor:
    """int16 clips (N, 16000) -> float32 embeddings (N, 96, 4). Small batches: the first maps
    (B, 24, 98, 32) of 256 clips (77 MB) outgrow the CPU's caches, and batches of 32 took half
    the time per clip (the same numbers to the bit: each clip's arithmetic is its own)."""
    out = [net(clips[i : i + batch].float() / 32768.0) for i in range(0, len(clips), batch)]
    return torch.cat(out) if out else torch.zeros(0, 96, 4)


class EmbeddingHead(nn.Module):
    """Embeddings (B, 96, W) -> word logits (B, n_classes): a two-layer network applied to each
    window (1x1 convolutions), then a soft maximum over the windows (the word is in some window)."""

    def __init__(self, n_classes: int, hidden: int = 256, dropout: float = 0.3):
        super().__init__()
        self.norm = nn.LayerNorm(96)
        self.net = nn.Sequential(
            nn.Conv1d(96, hidden, 1),  # (B, hidden, W)
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Conv1d(hidden, n_classes, 1),  # (B, n_classes, W)
        )

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        x = self.norm(emb.transpose(1, 2)).transpose(1, 2)  # (B, 96, W), each vector normalised
        return self.net(x).logsumexp(dim=-1)  # (B, n_classes)
