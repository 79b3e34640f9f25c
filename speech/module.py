"""The LightningModule: cross-entropy with label smoothing, accuracy, AdamW + one-cycle LR."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from torchmetrics.classification import MulticlassAccuracy

from common.cache import save_atomic
from common.checkpoints import load_checkpoint
from common.settings import network_config
from common.steps import StageSteps
from speech import audio
from speech.config import ModelConfig
from speech.data import class_names
from speech.model import KeywordSpotter

DEAD_FEATURE_STD = 1e-2  # fit_gate: below this spread a pooled feature is not read


def split_extras(extra: list[torch.Tensor]) -> tuple[list[torch.Tensor], torch.Tensor | None]:
    """A batch's items after (wav, target), told apart by dtype: the cached embeddings
    [(B, 96, W)] in order (none when not attached) and the (B,) bool "said by the neural voice"
    flag (None where the split has none)."""
    emb = [x for x in extra if x.dtype != torch.bool]
    neural = next((x for x in extra if x.dtype == torch.bool), None)
    return emb, neural


class KeywordModule(StageSteps, L.LightningModule):
    """The keyword spotter (`--model.*`).

    A checkpoint alone rebuilds it (labels included).

    Args:
        labels: The task: 35, 12 or a comma-separated word list (linked from --data.labels).
        width: Base channel count, the paper's 8*tau (BC-ResNet-1: 8, BC-ResNet-8: 64).
        time_stride: Time stride of the 5x5 stem convolution: 1 (the paper's) keeps every
            frame; 2 halves the frames every block sees (about half the cost per block).
        depth: BC-ResBlocks in each of the four stages (the paper's: 2, 2, 4, 4; one each
            at stride 1 costs about what the paper's stages cost at stride 2).
        activation: Activation in the temporal branch: relu, silu, gelu or tanh.
        dropout: Dropout2d rate at the end of each block.
        hop_ms: Frame hop of the log-mel features in ms (window 30 ms).
        f_max: Highest mel frequency in Hz (None: the Nyquist frequency).
        norm: Feature normalisation per clip: utterance (mean/std), band (each band's mean
            first) or pcen (per-channel energy normalisation instead of the log, then mean/std).
        top_db: Floor of the log-mels below each clip's loudest bin, in dB.
        lifter: Cepstral smoothing: keep this many DCT coefficients of each log-mel frame (0:
            off).
        freq_mask: SpecAugment: widest frequency mask (mel bands).
        time_mask: SpecAugment: widest time mask (frames; 0: none, the default: a time mask
            cost unseen voices accuracy, model card "Less regularisation").
        n_masks: SpecAugment: masks of each kind per clip (0 turns SpecAugment off).
        lr: Peak learning rate of the one-cycle schedule.
        weight_decay: AdamW weight decay.
        label_smoothing: Cross-entropy label smoothing.
        warmup: Fraction of the steps spent warming up to lr.
        channel_prob: Fraction of each training batch sent through a random recording channel
            (`audio.random_channel`: band limits, microphone colour, level, clipping, codec)
            before the CNN branch (the embedding branch sees the clean clips). 0 by default:
            the gate hands the channels to the embedding branch (figures in the model card);
            give 0.5 with --model.gate false or --model.pretrained false.
        warp: Training-time vocal-tract-length warping, alpha drawn from [1 - warp, 1 + warp]
            (0: off; the embedded clips already carry 0.9-1.1).
        trim_prob: Fraction of each training batch cut to its word and zero-padded, as a
            trimmed recording is.
        cnn_neural: With the embedding branch: the CNN branch also learns from the neural
            voice's clips (`--data.human_share`). false: it learns eSpeak's voices only, and the
            neural voice's clips train the embedding branch alone (a quarter less CNN work per
            epoch; issue 11: the CNN is the branch that carries eSpeak's unseen voices, the head
            the one that carries people). Without the embedding branch the CNN learns from all.
        gate: With the embedding branch: after training, fit a gate that weights the two
            branches per clip from the CNN's pooled features (`fit_gate`: the CNN where it
            knows the voice and the channel, the head elsewhere; stored in best.ckpt).
            false: the equal vote.
        pretrained: Add a second branch: a small head trained on a frozen speech embedding
            that Google trained on real speech (`speech.embedding`, from the openwakeword
            0.4.0 wheel; see the model card for its licence); its log-probabilities are
            averaged with the CNN's. false: the self-trained CNN alone.
    """

    def __init__(
        self,
        labels: str = "35",
        width: int = 32,
        time_stride: int = 1,
        depth: list[int] = [1, 1, 1, 1],  # noqa: B006 (jsonargparse needs a literal default)
        activation: str = "silu",
        dropout: float = 0.05,
        hop_ms: float = 25.0,
        f_max: float | None = None,
        norm: str = "utterance",
        top_db: float = 80.0,
        lifter: int = 0,
        freq_mask: int = 7,
        time_mask: int = 0,
        n_masks: int = 1,
        lr: float = 0.01,
        weight_decay: float = 1e-3,
        label_smoothing: float = 0.1,
        warmup: float = 0.1,
        channel_prob: float = 0.0,
        warp: float = 0.0,
        trim_prob: float = 0.0,
        cnn_neural: bool = False,
        gate: bool = True,
        pretrained: bool = True,
    ):
        super().__init__()
        self.save_hyperparameters()
        self.class_names = class_names(labels)
        n = len(self.class_names)
        self.model = KeywordSpotter(network_config(ModelConfig, self.hparams), n)
        self.acc = torch.nn.ModuleDict(
            {s: MulticlassAccuracy(n, average="micro") for s in ("train_", "val_", "test_")}
        )
        # the float32 test's (predictions, targets) per batch, for write_artifacts
        self.tested: list[tuple[torch.Tensor, torch.Tensor]] | None = None

    def forward(self, wav: torch.Tensor, emb: torch.Tensor | None = None) -> torch.Tensor:
        return self.model(wav, emb)  # (B, n_classes) logits

    def setup(self, stage: str) -> None:
        dm = getattr(self.trainer, "datamodule", None)
        if dm is not None and getattr(dm, "names", self.class_names) != self.class_names:
            raise ValueError(
                f"model labels={self.hparams.labels!r} but data labels={dm.hparams.labels!r}; "
                "give both the same task"
            )
        if self.model.embedding is not None and hasattr(dm, "attach_embeddings"):
            dm.attach_embeddings(self.model.embedding)  # computed once, cached with the clips

    def _step(self, batch, stage: str, cnn_rows: torch.Tensor | None = None) -> torch.Tensor:
        """The loss of a batch. `cnn_rows` (B,) bool: the clips the CNN branch learns from (the
        other branch learns from all; accuracy is taken on these)."""
        wav, target, *emb = batch  # (B, 16000), (B,), cached embeddings [(B, 96, W)] or none
        branches, pooled = self.model.branches(wav, *emb, cnn_rows=cnn_rows, pooled=True)
        targets = [target] * len(branches)
        if cnn_rows is not None:
            targets[0] = target = target[cnn_rows]
        loss = sum(  # each branch on its own loss: neither leans on the other
            F.cross_entropy(x, t, label_smoothing=self.hparams.label_smoothing)
            for x, t in zip(branches, targets)
        )
        if cnn_rows is not None:
            branches = [branches[0], *(x[cnn_rows] for x in branches[1:])]
        acc, vote = self.acc[stage + "_"], self.model.vote(branches, pooled)
        acc(vote, target)
        if stage == "test" and self.tested is not None:
            self.tested.append((vote.argmax(dim=-1).cpu(), target.cpu()))
        self.log(f"{stage}/loss", loss, on_step=False, on_epoch=True, prog_bar=stage != "train")
        self.log(f"{stage}/acc", acc, on_step=False, on_epoch=True, prog_bar=True)
        return loss

    def on_test_epoch_start(self) -> None:
        # a float32 test keeps its predictions: the test report (write_artifacts) reads them
        # instead of predicting the test split a second time (the same numbers; under bf16
        # autocast the report predicts again, in float32 as the exported model runs)
        self.tested = [] if self.trainer.precision == "32-true" else None

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        # a checkpoint from before the gate: an unfitted gate (zero output layer: the equal vote)
        gate = self.model.gate
        if gate is not None and not any(k.startswith("model.gate.") for k in state_dict):
            unfitted = {
                f"model.gate.{k}": torch.zeros_like(v) if k.startswith("net.2.") else v
                for k, v in gate.state_dict().items()
            }
            state_dict = {**state_dict, **unfitted}
        return super().load_state_dict(state_dict, strict, assign)

    def on_fit_end(self) -> None:
        """Fit the gate on the best checkpoint's branches and store it there (the test, the export
        and every user of best.ckpt then vote with it; last.ckpt keeps the equal vote)."""
        best = Path(getattr(self.trainer.checkpoint_callback, "best_model_path", "") or "")
        dm = getattr(self.trainer, "datamodule", None)
        if (
            self.model.gate is None
            or not best.is_file()
            or "train" not in getattr(dm, "splits", {})
        ):
            return
        ckpt = load_checkpoint(best)  # the one checked loader (weights only)
        self.load_state_dict(ckpt["state_dict"])
        self.fit_gate(dm.splits["train"])
        gate = {f"model.gate.{k}": v.cpu() for k, v in self.model.gate.state_dict().items()}
        ckpt["state_dict"].update(gate)
        save_atomic(ckpt, best)

    @torch.no_grad()
    def fit_gate(self, dataset, channel_prob: float = 0.5, steps: int = 300, seed: int = 0) -> None:
        """Fit the gate (the branches frozen) on the loss of the gated vote over the training
        clips, a random half of them through a random recording channel: the CNN is trusted where
        it was right on them (eSpeak's voices as recorded clean) and the head where the CNN is
        not (the neural voice, which the CNN never learns from; the channels, which it does not
        hear in training). Deterministic for `seed`."""
        gen = torch.Generator().manual_seed(seed)
        self.eval()
        logp, feats, targets = [], [], []
        for wav, target, *extra in DataLoader(dataset, batch_size=256):
            emb = [e.to(self.device) for e in split_extras(extra)[0]]
            pick = torch.rand(len(wav), generator=gen) < channel_prob
            if pick.any():
                wav[pick] = audio.random_channel(wav[pick], gen)
            # the network on 64 clips at a time: 256 clips' maps outgrow the CPU's caches (0.9
            # against 0.45 ms per clip); the same numbers, and the channel draws stay per 256
            for part in zip(wav.to(self.device).split(64), *(e.split(64) for e in emb)):
                branches, pooled = self.model.branches(*part, pooled=True)
                logp.append([x.log_softmax(dim=-1) for x in branches])
                feats.append(pooled)
            targets.append(target.to(self.device))
        cnn, head = (torch.cat([x[i] for x in logp]) for i in range(2))
        feats, targets, gate = torch.cat(feats), torch.cat(targets), self.model.gate
        gate.mean.copy_(feats.mean(dim=0))
        # a feature that hardly varies over the training clips (a dead channel; pooled features
        # spread 0.2-0.6 in a trained model) tells clips apart by its float rounding alone, which
        # the checkpoint and its ONNX export do not share: the gate does not read it (x / inf = 0)
        std = feats.std(dim=0)
        gate.std.copy_(torch.where(std > DEAD_FEATURE_STD, std, torch.inf))
        opt = torch.optim.Adam(gate.net.parameters(), lr=1e-2, weight_decay=1e-3)
        with torch.enable_grad():
            for _ in range(steps):
                i = torch.randint(len(targets), (512,), generator=gen).to(self.device)
                w = gate(feats[i])  # (512, 1)
                loss = F.cross_entropy(w * cnn[i] + (1 - w) * head[i], targets[i])
                opt.zero_grad()
                loss.backward()
                opt.step()

    def training_step(self, batch, batch_idx):  # validation and test: StageSteps
        # (B, 16000), (B,), the cached embeddings of the clean clips (B, 96, W) when attached,
        # and (B,) bool "said by the neural voice" on the embedded set with a human share
        wav, target, *extra = batch
        emb, neural = split_extras(extra)
        cnn_rows = None
        if neural is not None and self.model.embedding is not None and not self.hparams.cnn_neural:
            cnn_rows = ~neural  # the CNN learns eSpeak's voices; the head hears the neural voice
            if cnn_rows.sum() < 2:  # BatchNorm needs two clips: a rare all-neural batch
                cnn_rows = None
        # the default augments nothing here: the clips go on as loaded (no copies, no draws)
        if self.augmenting and cnn_rows is None:
            wav = self.augment(wav)
        elif self.augmenting:  # only the CNN hears them augmented: the head reads clean embeddings
            wav = wav.float().clone()
            wav[cnn_rows] = self.augment(wav[cnn_rows])
        return self._step((wav, target, *emb), "train", cnn_rows)

    @property
    def augmenting(self) -> bool:
        """Whether `augment` changes clips: each kind is off at 0, as all are by default (the
        copies around it took 2.2 ms of a 150 ms float32 training step)."""
        hp = self.hparams
        return hp.warp > 0 or hp.channel_prob > 0 or hp.trim_prob > 0

    def augment(self, wav: torch.Tensor) -> torch.Tensor:
        """Training-time augmentation on the batch's device: speaker warp, recording channel,
        trimming; each on a random part of the batch (torch's global RNG, seeded by the run)."""
        hp, n = self.hparams, len(wav)
        wav = wav.float().clone()
        if hp.warp > 0:
            alphas = 1 + (torch.rand(n, device=wav.device) * 2 - 1) * hp.warp
            wav = audio.spectral_warp(wav, alphas)
        if hp.channel_prob > 0:
            pick = torch.rand(n, device=wav.device) < hp.channel_prob  # (B,)
            if pick.any():  # (an FFT of no clips is an error)
                wav[pick] = audio.random_channel(wav[pick])
        if hp.trim_prob > 0:
            pick = torch.rand(n, device=wav.device) < hp.trim_prob
            if pick.any():
                wav[pick] = audio.trim_to_word(wav[pick])
        return wav

    def configure_optimizers(self):
        opt = torch.optim.AdamW(  # foreach: one fused pass over the 115 tensors (torch's
            # default on the CPU is a Python loop, slower per step; the same numbers to the bit)
            self.parameters(),
            lr=self.hparams.lr,
            weight_decay=self.hparams.weight_decay,
            foreach=True,
        )
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt,
            max_lr=self.hparams.lr,
            total_steps=self.trainer.estimated_stepping_batches,
            pct_start=self.hparams.warmup,
        )
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    @torch.inference_mode()
    def predict_proba(self, wavs: torch.Tensor) -> torch.Tensor:
        """Class probabilities for 16 kHz 1-second clips (B, 16000) -> (B, n_classes)."""
        self.eval()
        return self(torch.as_tensor(wavs).to(self.device)).softmax(dim=-1)

    @torch.inference_mode()
    def log_mel(self, clip) -> np.ndarray:
        """The normalised log-mel features of one 1-second clip (16000,) -> (n_mels, T)."""
        self.eval()
        return self.model.features(torch.as_tensor(clip)[None].to(self.device))[0, 0].cpu().numpy()

    @torch.inference_mode()
    def predict_dataset(self, dataset, batch_size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
        """(predictions (N,), targets (N,)) on a dataset of (wav, target[, embedding][, neural])
        items; the training split's "said by the neural voice" flag is not an input."""
        self.eval()
        preds, targets = [], []
        for wav, target, *extra in DataLoader(dataset, batch_size=batch_size):
            emb = [e.to(self.device) for e in split_extras(extra)[0]]
            preds.append(self(wav.to(self.device), *emb).argmax(dim=-1).cpu())
            targets.append(target)
        return torch.cat(preds), torch.cat(targets)

    def accuracy_report(
        self, preds: torch.Tensor, targets: torch.Tensor, groups: dict[str, list[str]] | None = None
    ) -> dict:
        """Overall, per-class and per-group accuracy as plain JSON-able numbers."""
        correct = preds == targets
        n = len(self.class_names)
        counts = torch.bincount(targets, minlength=n)
        accuracy = torch.bincount(targets[correct], minlength=n) / counts  # float32, as mean()
        per_class = {
            name: {"n": int(counts[i]), "accuracy": round(accuracy[i].item(), 4)}
            for i, name in enumerate(self.class_names)
            if counts[i]
        }
        per_group: dict[str, dict] = {}
        for key, values in (groups or {}).items():
            seen = Counter(values)
            right = Counter(v for v, ok in zip(values, correct.tolist()) if ok)
            per_group[key] = {
                v: {"n": seen[v], "accuracy": round(right[v] / seen[v], 4)} for v in sorted(seen)
            }
        return {
            "n": int(len(targets)),
            "accuracy": round(correct.float().mean().item(), 4) if len(targets) else None,
            "per_class": per_class,
            "per_group": per_group,
        }

    def write_artifacts(self, run_dir, datamodule) -> dict:
        """Test-split confusion matrix and per-speaker-group accuracy (for the model card)."""
        from speech.plots import plot_confusion

        if datamodule is None or "test" not in getattr(datamodule, "splits", {}):
            return {}
        data = datamodule.splits["test"]
        tested, self.tested = self.tested, None  # the test's predictions, read once
        if tested and sum(len(p) for p, _ in tested) == len(data):
            preds, targets = (torch.cat(x) for x in zip(*tested))
        else:  # no float32 test of the whole split before: predict it
            preds, targets = self.predict_dataset(data)  # batches of 64: see fit_gate
        report = self.accuracy_report(preds, targets, getattr(data, "groups", {}))
        plot_confusion(preds, targets, self.class_names, run_dir / "confusion_test.png")
        (run_dir / "test_report.json").write_text(json.dumps(report, indent=2))
        extra = {"test_acc_unseen_voices": report["accuracy"]}
        for key, groups in report["per_group"].items():
            worst = min(groups, key=lambda g: groups[g]["accuracy"])
            extra[f"worst_{key}"] = f"{worst} ({groups[worst]['accuracy']:.3f})"
        extra["onnx_export"] = self.export_best(run_dir / "checkpoints" / "best.ckpt")
        return extra

    @staticmethod
    def export_best(best) -> str:
        """Write best.onnx beside best.ckpt, so that the demo runs without torch (bounded memory);
        a failed export only costs that: the demo falls back to the checkpoint."""
        from common.export import ExportError, export

        if not best.is_file():
            return "none (no best.ckpt)"
        try:
            return export("speech", "onnx", best)["file"]
        except (ExportError, ImportError, RuntimeError) as err:
            note = f"note: no ONNX export of {best} ({err}); the demo runs the checkpoint"
            print(note, file=sys.stderr)
            return f"failed: {err}"

    def export_network(self, fmt: str) -> tuple[torch.nn.Module, str, list[str], dict[str, str]]:
        """What `portfolio export` writes: waveform -> logits; in ONNX also the log-mel features
        and the class names, which the torch-free demo needs (`speech.exported`)."""
        from speech import exported

        if fmt != "onnx":
            return self.model.eval(), exported.INPUT, [exported.LOGITS], {}
        meta = {"mal2.class_names": json.dumps(self.class_names)}
        net = exported.with_log_mel(self.model.eval())
        return net, exported.INPUT, [exported.LOGITS, exported.LOG_MEL], meta

    @staticmethod
    def example_inputs(batch: int, seed: int = 0) -> torch.Tensor:
        """Speech-like noise bursts (B, 16000) to trace and check an export with."""
        g = torch.Generator().manual_seed(seed)
        t = torch.arange(16000) / 16000
        tone = torch.sin(2 * torch.pi * (200 + 800 * torch.rand(batch, 1, generator=g)) * t)
        loudness = torch.rand(batch, 1, generator=g)
        return 0.3 * tone * loudness + 0.05 * torch.randn(batch, 16000, generator=g)  # (B, 16000)
