"""The keyword-spotting network: log-mel front end, SpecAugment and BC-ResNet (plain torch), and
optionally a second branch on a frozen speech embedding trained on real speech."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
import torchaudio
from torch import nn

from common.errors import ConfigError
from speech.config import ModelConfig

ACTIVATIONS = {"relu": nn.ReLU, "silu": nn.SiLU, "gelu": nn.GELU, "tanh": nn.Tanh}


class LogMel(nn.Module):
    """Waveforms (B, samples) at `cfg.sample_rate` -> normalised log-mel features (B, 1, n_mels, T).

    Each clip is floored `top_db` below its own loudest bin, so its features do not depend on the
    clips batched with it. `norm`: "utterance" (mean/std of all bins: level invariance), "band"
    (each band's mean over time first: a fixed channel colour is a per-band offset in the log
    domain and cancels) or "pcen" (Wang et al. 2017, eq. 1, instead of the log: a gain per band).
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        if cfg.norm not in ("utterance", "band", "pcen"):
            raise ConfigError(f"norm={cfg.norm!r}: use 'utterance', 'band' or 'pcen'")
        sr, n_fft = cfg.sample_rate, int(cfg.sample_rate * cfg.win_ms / 1000)
        self.norm, self.top_db = cfg.norm, cfg.top_db
        frames = 0.4 * 1000 / cfg.hop_ms  # PCEN smoother: librosa's 0.4 s time constant in frames
        self.pcen_s = (math.sqrt(1 + 4 * frames**2) - 1) / (2 * frames**2)
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=sr,
            n_fft=n_fft,
            win_length=n_fft,
            hop_length=int(sr * cfg.hop_ms / 1000),
            n_mels=cfg.n_mels,
            f_min=20.0,
            f_max=min(cfg.f_max or sr / 2, sr / 2),
        )
        # cepstral smoothing: keep the first `lifter` DCT coefficients of each frame's log-mel
        # spectrum (the envelope: formants, channel tilt), drop the fine (pitch-harmonic) detail
        lifter = cfg.lifter
        dct = torchaudio.functional.create_dct(lifter, cfg.n_mels, "ortho") if lifter else None
        self.register_buffer("dct", dct, persistent=False)

    def pcen(self, energy: torch.Tensor) -> torch.Tensor:
        """(B, n_mels, T) mel energies -> PCEN (Wang et al. 2017, eq. 1): E / (eps + M)^alpha,
        M the energy smoothed over time (first order, M_0 = E_0), then (. + delta)^r - delta^r
        with librosa's alpha 0.98, delta 2, r 0.5."""
        s, smooth, m = self.pcen_s, [], energy[..., 0]
        for t in range(energy.shape[-1]):
            m = (1 - s) * m + s * energy[..., t]
            smooth.append(m)
        gain = energy / (1e-6 + torch.stack(smooth, dim=-1)) ** 0.98
        return (gain + 2.0).sqrt() - math.sqrt(2.0)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        if self.norm == "pcen":
            x = self.pcen(self.mel(wav))  # (B, n_mels, T)
        else:
            # (B, n_mels, T) dB. Floored with a clamp, not `+ 1e-10`: the ONNX exporter's
            # optimiser (onnxscript 0.7) drops an added constant within 1e-8 of zero as a no-op,
            # and the export then took log10 of the bare energies (0.2 dB apart on quiet bins)
            x = 10 * torch.log10(self.mel(wav).clamp(min=1e-10))
            x = torch.maximum(x, x.amax(dim=(-2, -1), keepdim=True) - self.top_db)
        if self.dct is not None:  # (B, n_mels, T) -> cepstra (B, T, lifter) -> (B, n_mels, T)
            x = (x.transpose(1, 2) @ self.dct @ self.dct.T).transpose(1, 2)
        if self.norm == "band":
            x = x - x.mean(dim=-1, keepdim=True)
        mean = x.mean(dim=(-2, -1), keepdim=True)
        std = x.std(dim=(-2, -1), keepdim=True)
        return ((x - mean) / (std + 1e-5)).unsqueeze(1)  # (B, 1, n_mels, T)


class SpecAugment(nn.Module):
    """SpecAugment (Park et al. 2019): random frequency and time masks, only in training."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        masks = []
        for _ in range(cfg.n_masks):
            masks.append(torchaudio.transforms.FrequencyMasking(cfg.freq_mask, iid_masks=True))
            masks.append(torchaudio.transforms.TimeMasking(cfg.time_mask, iid_masks=True))
        self.masks = nn.Sequential(*masks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # features are zero-mean, so masking with 0 (the default) masks with the mean
        return self.masks(x) if self.training else x


class DepthwiseConv2d(nn.Conv2d):
    """A depthwise, bias-free nn.Conv2d (same parameters and results) computed on the CPU as a
    sum of shifted copies of the input, one per kernel tap: on the (B, C, 1, T) temporal maps of
    BC-ResNet PyTorch's CPU kernel is the slower (the larger maps keep nn.Conv2d)."""

    def __init__(self, channels: int, kernel_size, stride=1, padding=0, dilation=1):
        super().__init__(
            channels, channels, kernel_size, stride, padding, dilation, groups=channels, bias=False
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type != "cpu":
            return super().forward(x)
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = (
            self.kernel_size, self.stride, self.padding, self.dilation
        )  # fmt: skip
        h = (x.shape[2] + 2 * ph - dh * (kh - 1) - 1) // sh + 1
        w = (x.shape[3] + 2 * pw - dw * (kw - 1) - 1) // sw + 1
        x = F.pad(x, (pw, pw, ph, ph))
        weight = self.weight.to(x.dtype)  # under autocast, compute in the activations' dtype
        out = None
        for i in range(kh):
            for j in range(kw):
                tap = x[:, :, i * dh : i * dh + sh * (h - 1) + 1 : sh,
                        j * dw : j * dw + sw * (w - 1) + 1 : sw]  # fmt: skip
                scale = weight[:, :, i, j].view(1, -1, 1, 1)
                out = tap * scale if out is None else torch.addcmul(out, tap, scale)
        return out


class SubSpectralNorm(nn.Module):
    """BatchNorm with separate statistics per frequency sub-band (Chang et al. 2021)."""

    def __init__(self, channels: int, sub_bands: int = 5):
        super().__init__()
        self.sub_bands = sub_bands
        self.bn = nn.BatchNorm2d(channels * sub_bands)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, f, t = x.shape  # f must be divisible by sub_bands
        x = self.bn(x.reshape(b, c * self.sub_bands, f // self.sub_bands, t))
        return x.reshape(b, c, f, t)


class BCResBlock(nn.Module):
    """Broadcasted residual block (Kim et al. 2021, Fig. 2 / eq. 3):

        y = x + f2(x) + BC(f1(avgpool_freq(f2(x))))

    f2 is a frequency-wise depthwise conv (2D part), f1 a temporal depthwise-separable conv on the
    frequency-averaged map (1D part) whose output is broadcast back over frequency. A transition
    block (channel change) drops the identity shortcut and starts with a 1x1 conv.
    """

    def __init__(
        self,
        c_in: int,
        c_out: int,
        freq_stride: int,
        dilation: int,
        activation: str,
        dropout: float,
    ):
        super().__init__()
        self.transition = c_in != c_out
        layers: list[nn.Module] = []
        if self.transition:
            layers += [nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]
        layers += [
            nn.Conv2d(c_out, c_out, (3, 1), (freq_stride, 1), (1, 0), groups=c_out, bias=False),
            SubSpectralNorm(c_out),
        ]
        self.f2 = nn.Sequential(*layers)
        self.f1 = nn.Sequential(
            DepthwiseConv2d(c_out, (1, 3), padding=(0, dilation), dilation=(1, dilation)),
            nn.BatchNorm2d(c_out),
            ACTIVATIONS[activation](),
            nn.Conv2d(c_out, c_out, 1, bias=False),
            nn.Dropout2d(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x2 = self.f2(x)  # (B, C, F, T)
        x1 = self.f1(x2.mean(dim=2, keepdim=True))  # (B, C, 1, T), broadcast over F below
        out = x2 + x1
        if not self.transition:
            out = out + x
        return torch.relu(out)


class BCResNet(nn.Module):
    """BC-ResNet (Kim et al., Interspeech 2021) on (B, 1, 40, T) log-mels.

    `width` is the paper's 8*tau base channel count (BC-ResNet-1: 8, BC-ResNet-8: 64); `depth`
    the number of blocks in each of the four stages (paper: 2, 2, 4, 4).
    """

    def __init__(self, cfg: ModelConfig, n_classes: int):
        super().__init__()
        if cfg.n_mels % 40:
            raise ValueError(f"BC-ResNet needs n_mels = 40 (got {cfg.n_mels})")
        if len(cfg.depth) != 4 or min(cfg.depth) < 1:  # the stages' channels and strides are 4
            raise ConfigError(
                f"depth={cfg.depth}: give 4 stages of 1 or more blocks, e.g. [2, 2, 4, 4]"
            )
        if cfg.activation not in ACTIVATIONS:
            raise ConfigError(f"activation={cfg.activation!r}: use {', '.join(ACTIVATIONS)}")
        w = cfg.width
        channels = [2 * w, w, int(1.5 * w), 2 * w, int(2.5 * w), 4 * w]
        # the stem halves frequency; a time stride s divides the frames every block sees by s.
        # Stored with the weights: a checkpoint from before the option (stride 1, no such key)
        # is refused by the loader instead of running silently with the wrong stride.
        self.register_buffer("time_stride", torch.tensor(cfg.time_stride))
        self.head = nn.Sequential(
            nn.Conv2d(1, channels[0], 5, (2, cfg.time_stride), 2, bias=False),  # (B, 2w, 20, T/s)
            nn.BatchNorm2d(channels[0]),
            nn.ReLU(),
        )
        blocks: list[nn.Module] = []
        for stage, n in enumerate(cfg.depth):
            for i in range(n):
                c_in = channels[stage] if i == 0 else channels[stage + 1]
                stride = 2 if stage in (1, 2) and i == 0 else 1  # 20 -> 10 -> 5 frequency bins
                blocks.append(
                    BCResBlock(
                        c_in, channels[stage + 1], stride, 2**stage, cfg.activation, cfg.dropout
                    )
                )
        self.blocks = nn.Sequential(*blocks)
        c = channels[-2]
        self.classifier = nn.Sequential(
            nn.Conv2d(c, c, (5, 5), padding=(0, 2), groups=c, bias=False),  # (B, c, 1, T)
            nn.Conv2d(c, channels[-1], 1, bias=False),
            nn.BatchNorm2d(channels[-1]),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(channels[-1], n_classes),
        )

    def forward(self, x: torch.Tensor, pooled: bool = False):
        """Logits (B, n_classes); with `pooled`, also the features they are read from (B, 4w)."""
        h = self.classifier[:-1](self.blocks(self.head(x)))  # (B, 4w)
        return (self.classifier[-1](h), h) if pooled else self.classifier[-1](h)


class BranchGate(nn.Module):
    """How far to trust the CNN on a clip: w = sigmoid(MLP(its pooled features)) (B, 1), the
    weight of the CNN's log-probabilities in the vote (the embedding head's: 1 - w). The output
    layer starts at zero (w = 1/2: the equal vote) until `KeywordModule.fit_gate` fits it."""

    def __init__(self, channels: int, hidden: int = 32):
        super().__init__()
        self.register_buffer("mean", torch.zeros(channels))  # of the features it was fitted on
        self.register_buffer("std", torch.ones(channels))
        self.net = nn.Sequential(nn.Linear(channels, hidden), nn.GELU(), nn.Linear(hidden, 1))
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net((pooled - self.mean) / self.std))  # (B, 1)


class KeywordSpotter(nn.Module):
    """Waveform (B, 16000) -> word logits (B, n_classes): LogMel, SpecAugment, BC-ResNet.

    With `cfg.pretrained`, a second branch classifies the frozen speech embedding
    (`speech.embedding`, trained on real speech) with a small trained head, and the two branches'
    log-probabilities are averaged (`fuse`): each branch is trained on its own loss.
    """

    def __init__(self, cfg: ModelConfig, n_classes: int):
        super().__init__()
        self.cfg = cfg
        self.features = LogMel(cfg)
        self.augment = SpecAugment(cfg)
        self.net = BCResNet(cfg, n_classes)
        self.embedding, self.embedding_head, self.gate = None, None, None
        if cfg.pretrained:
            from speech.embedding import EmbeddingHead, SpeechEmbedding

            self.embedding, self.embedding_head = SpeechEmbedding(), EmbeddingHead(n_classes)
            if cfg.gate:
                self.gate = BranchGate(self.net.classifier[-1].in_features)

    def branches(
        self,
        wav: torch.Tensor,
        emb: torch.Tensor | None = None,
        features: torch.Tensor | None = None,
        cnn_rows: torch.Tensor | None = None,
        pooled: bool = False,
    ):
        """Each branch's logits (B, n_classes). `emb`: the embeddings (B, 96, W) of `wav` when
        they are cached (training); `features`: its log-mels when already computed (export);
        `cnn_rows`: (B,) bool, the clips the CNN runs on (its logits then (rows, n_classes));
        `pooled`: return (the logits, the CNN's pooled features (rows, 4w)), the gate's input."""
        cnn_wav = wav if cnn_rows is None else wav[cnn_rows]  # the head hears every clip
        features = self.features(cnn_wav) if features is None else features
        logits, h = self.net(self.augment(features), pooled=True)
        out = [logits]
        if self.embedding is not None:
            out.append(self.embedding_head(self.embedding(wav) if emb is None else emb))
        return (out, h) if pooled else out

    def vote(self, logits: list[torch.Tensor], pooled: torch.Tensor) -> torch.Tensor:
        """The model's output from its branches' logits: `fuse`, weighted by the gate if any."""
        return fuse(logits, self.gate(pooled) if self.gate is not None else None)

    def forward(
        self,
        wav: torch.Tensor,
        emb: torch.Tensor | None = None,
        features: torch.Tensor | None = None,
    ) -> torch.Tensor:
        return self.vote(*self.branches(wav, emb, features, pooled=True))


def fuse(logits: list[torch.Tensor], weight: torch.Tensor | None = None) -> torch.Tensor:
    """One branch: its logits; several: the mean of their log-probabilities (a product of
    experts: each branch can veto a word it finds unlikely); with `weight` (B, 1), two branches'
    log-probabilities weighted w and 1 - w (w = 1/2: the mean)."""
    if len(logits) == 1:
        return logits[0]
    logp = [x.log_softmax(dim=-1) for x in logits]
    if weight is None:
        return torch.stack(logp).mean(dim=0)
    return weight * logp[0] + (1 - weight) * logp[1]
