"""LightningModule: the Graves (2013) network, its loss, logging and writing helpers."""

from __future__ import annotations

import json
import warnings
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torchmetrics import MeanMetric

from common.errors import ConfigError
from common.settings import network_config
from common.threads import one_thread
from handwriting import hershey, mdn
from handwriting.config import CANDIDATES, ModelConfig
from handwriting.data import ALPHABET
from handwriting.model import HandwritingRNN
from handwriting.text import encode, unknown_characters

# What each style's priming line says (section 5.5): short, so that primer + a demo line fit the
# training lines' length, in words the corpus does not use (the network would continue them).
PRIMER_TEXT = "written here"


def _detached(state):
    """The network's state (dicts, lists and tuples of tensors) cut from the graph."""
    if isinstance(state, torch.Tensor):
        return state.detach()
    if isinstance(state, dict):
        return {k: _detached(v) for k, v in state.items()}
    if isinstance(state, list | tuple):
        return type(state)(_detached(v) for v in state)
    return state


def _rows(batch: dict, style, parts: int) -> list[tuple[dict, torch.Tensor | None]]:
    """A batch cut into `parts` groups of its lines (rows), each with its writers' indices."""
    n = len(batch["x"])
    bounds = [n * i // min(parts, n) for i in range(min(parts, n) + 1)]
    out = []
    for a, b in zip(bounds, bounds[1:]):
        part = {k: v[a:b] for k, v in batch.items()}  # tensors and the writers' list alike
        out.append((part, None if style is None else style[a:b]))
    return out


def _one_thread() -> None:
    """A batch thread's torch thread count: 1 for good. Torch sets a thread's count from the
    process-wide one on its first parallel operation, so that happens first here: else a count
    the main thread restored meanwhile (`one_thread`) could take over and change the results."""
    torch.get_num_threads()
    torch.set_num_threads(1)


class HandwritingModule(L.LightningModule):
    """The handwriting network (`--model.*`).

    Trains HandwritingRNN by maximum likelihood (eq. 26) and writes text with it.

    Args:
        synthesis: Attention window over the text (section 5) or prediction network only
            (section 4).
        hidden_size: LSTM units per layer.
        num_layers: Stacked LSTM layers, each with skip connections from the input and to the
            output.
        n_mixtures: M bivariate Gaussians in the mixture density output (eq. 23).
        n_window: K Gaussians of the attention window (eq. 46).
        kappa_scale: Scales exp(kappa_hat) in eq. 51 so the window starts out moving about a
            character per 10 points (our pen density) instead of one per point.
        lr: Adam learning rate.
        lr_decay: Multiply the learning rate by this after every epoch (exponential schedule).
        lr_schedule: exponential (lr_decay per epoch) or cosine (from lr to lr * lr_final over
            every step of the run, so that the run ends at a small learning rate).
        lr_final: The cosine schedule's last learning rate, as a share of lr.
        alphabet: The characters the network knows (one-hot order); the CLI sets it from
            --data.alphabet, the characters of the data.
        styles: Writer names the network is conditioned on (a learned embedding each, an
            extension of the paper); null: the hand comes from priming alone. Other writers'
            lines (e.g. IAM-OnDB) train the "unknown writer" embedding.
        style_dropout: Share of training lines whose writer is withheld (trains "unknown").
        tbptt_spans: Truncated backpropagation through time: each training batch is cut along
            time into this many spans, one optimizer step each, the state carried (detached)
            from span to span. 1: whole lines, one step per batch.
        tbptt_epochs: How many of the first epochs train in spans (many updates teach the
            letters' shapes); later ones train whole lines, whose gradient the attention window
            needs (model card). null: every epoch. Under --run.budget every epoch is whole lines.
        batch_threads: Threads that each run a part of a training batch's lines with one torch
            thread, their gradients summed in a fixed order (one step's small products cannot
            use two cores; two halves can). Used with tbptt_spans > 1.
    """

    def __init__(
        self,
        synthesis: bool = True,
        hidden_size: int = 256,
        num_layers: int = 2,
        n_mixtures: int = 20,
        n_window: int = 10,
        kappa_scale: float = 0.1,
        lr: float = 2e-3,
        lr_decay: float = 0.85,
        lr_schedule: str = "exponential",
        lr_final: float = 0.05,
        alphabet: str = ALPHABET,
        # one learned embedding per synthetic writer (handwriting/hershey.py)
        styles: list[str] | None = ["ada", "ben", "cleo", "dora", "emil"],  # noqa: B006
        style_dropout: float = 0.1,
        tbptt_spans: int = 12,
        tbptt_epochs: int | None = 3,
        batch_threads: int = 2,
    ):
        super().__init__()
        if lr_schedule not in ("exponential", "cosine"):
            raise ConfigError(
                f"--model.lr_schedule must be 'exponential' or 'cosine', not {lr_schedule!r}"
            )
        if tbptt_spans < 1:
            raise ConfigError(f"--model.tbptt_spans must be 1 or more, not {tbptt_spans}")
        if batch_threads < 1:
            raise ConfigError(f"--model.batch_threads must be 1 or more, not {batch_threads}")
        self.save_hyperparameters()
        # Several optimizer steps per batch (one per span): Lightning's manual optimization.
        self.automatic_optimization = tbptt_spans == 1 or tbptt_epochs == 0
        self.config = network_config(
            ModelConfig, self.hparams, alphabet_size=len(alphabet), n_styles=len(styles or [])
        )
        self.styles = list(styles or [])
        self.model = HandwritingRNN(self.config)
        # Offset scale of the training data (Graves 4.1), filled in at fit start; a buffer, so
        # every checkpoint carries it and generation can undo it.
        self.register_buffer("scale", torch.ones(2))
        # The synthetic writers' pen step scale of the training data (`--data.pen_step`), so
        # that the priming line is drawn with as many points per character as training lines.
        self.register_buffer("pen_step", torch.ones(()))
        # val/nll is the mean over validation *points*, as `handwriting.evaluate` computes it:
        # each batch weighs by its number of real (unpadded) points, not by its number of lines.
        self.val_nll = MeanMetric()

    def on_fit_start(self) -> None:
        dm = self.trainer.datamodule
        if dm is not None and getattr(dm, "scale", None) is not None:
            self.scale.copy_(torch.tensor(dm.scale))
        if dm is not None and getattr(dm, "hparams", None) is not None:
            self.pen_step.fill_(float(dm.hparams.get("pen_step", 1.0)))
        writers = getattr(getattr(dm, "train_set", None), "writers", None)
        unheard = [s for s in self.styles if writers is not None and s not in writers]
        if unheard:  # e.g. IAM-OnDB (its writers have no names) with the synthetic writers' names
            warnings.warn(
                f"--model.styles: no training line is by {', '.join(unheard)}, so their "
                "embeddings stay untrained and `write --style` with them writes badly; name the "
                "data's writers, or give --model.styles null to write in a style by priming",
                stacklevel=2,
            )

    def point_nll(self, batch, stage: str = "val", style=None) -> torch.Tensor:
        """(B, T) negative log-likelihood of each point (0 at padding), each predicted from the
        points before it: the loss of training and the figure of evaluation."""
        return self.span_nll(batch, stage, style=style)[0]

    def span_nll(self, batch, stage: str = "val", span: slice = slice(None), state=None,
                 style=None) -> tuple[torch.Tensor, dict]:  # fmt: skip
        """`point_nll` of a span of time (a slice) only, started from the network's `state`
        after the points before it; also returns the state after the span (truncated BPTT)."""
        x, mask = batch["x"], batch["mask"]  # (B, T, 3), (B, T)
        start = x.new_tensor([0.0, 0.0, 1.0]).expand(len(x), 1, 3)  # pen up at the origin
        inputs = torch.cat([start, x[:, :-1]], 1)[:, span]  # predict point t from points < t
        chars = batch["chars"] if self.config.synthesis else None
        style = self._styles(batch, stage) if style is None else style
        y, state, _ = self.model(inputs, chars, state, style)
        y = y.float()  # under bf16 autocast: the mixture density loss stays in float32
        if stage == "train":
            y.register_hook(lambda g: g.clamp(-100.0, 100.0))  # Graves: output derivatives
        nll = mdn.nll(mdn.split_params(y, self.config.n_mixtures), x[:, span]) * mask[:, span]
        return nll, state

    def _step(self, batch, stage: str) -> torch.Tensor:
        x, mask = batch["x"], batch["mask"]  # (B, T, 3), (B, T)
        point_nll = self.point_nll(batch, stage)  # (B, T)
        per_point = point_nll.sum() / mask.sum()
        per_seq = point_nll.sum() / len(x)
        self.log(
            f"{stage}/loss",
            per_point,
            on_step=False,
            on_epoch=True,
            prog_bar=True,
            batch_size=len(x),
        )
        if stage == "val":
            self.val_nll.update(per_point.detach(), weight=mask.sum().to(per_point.dtype))
            self.log("val/nll", self.val_nll, on_step=False, on_epoch=True)
            self.log("val/nll_seq", per_seq, on_step=False, on_epoch=True, batch_size=len(x))
        # Optimise the per-sequence loss (eq. 26 summed over a line), as Graves does; the
        # derivative clipping above and in the model keeps it stable on long lines.
        return per_seq

    def style_index(self, name: str | None) -> int:
        """Embedding row of a writer: 1 + its place in `styles`, 0 for unknown or None."""
        return self.styles.index(name) + 1 if name in self.styles else 0

    def _styles(self, batch, stage: str) -> torch.Tensor | None:
        if not self.styles:
            return None
        idx = torch.tensor([self.style_index(w) for w in batch["writers"]], device=self.device)
        if stage == "train" and self.hparams.style_dropout > 0:
            withheld = torch.rand(len(idx), device=idx.device) < self.hparams.style_dropout
            idx = idx.masked_fill(withheld, 0)
        return idx

    def training_step(self, batch, batch_idx):
        if self.automatic_optimization:
            return self._step(batch, "train")
        # Truncated BPTT: equal spans of the batch's time axis, one update each; the state at
        # a span's end starts the next (detached: no gradient flows across the cut).
        x, mask = batch["x"], batch["mask"]  # (B, T, 3), (B, T)
        opt, sched = self.optimizers(), self.lr_schedulers()
        style = self._styles(batch, "train")  # one draw of the withheld writers per line
        parts = _rows(batch, style, self.hparams.batch_threads)  # [(sub-batch, style)]
        states = [None] * len(parts)
        length = -(-x.shape[1] // self._spans(self.current_epoch))  # ceil: all spans but the last
        cast = torch.is_autocast_enabled("cpu"), torch.get_autocast_dtype("cpu")
        total = 0.0
        for t0 in range(0, x.shape[1], length):
            span = slice(t0, t0 + length)
            jobs = [(p, s, span, st, len(x), cast) for (p, s), st in zip(parts, states)]
            if len(jobs) == 1:
                done = [self._gradients(*jobs[0])]
            else:
                done = list(self._pool().map(lambda job: self._gradients(*job), jobs))
            # The sum and Adam's update on one thread: the workers wait meanwhile, and on a busy
            # CPU an OpenMP team's barrier on these short operations cost more than the work.
            with one_thread() if len(parts) > 1 else nullcontext():
                opt.zero_grad()
                for i, param in enumerate(self.parameters()):  # summed in a fixed order
                    grads = [g[i] for _, _, g in done if g[i] is not None]
                    param.grad = sum(grads[1:], grads[0]) if grads else None
                opt.step()
            if self.hparams.lr_schedule == "cosine":
                sched.step()
            states = [state for _, state, _ in done]
            total += sum(nll for nll, _, _ in done)
        self.log("train/loss", total / float(mask.sum()), on_epoch=True, prog_bar=True,
                 on_step=False, batch_size=len(x))  # fmt: skip

    def _gradients(self, batch, style, span, state, lines, cast):
        """One part of a batch over one span of time: (its NLL sum, the network's state after
        it, detached, and the gradient of its share of the batch's loss per line)."""
        # Autocast is thread-local: set again. Without its cache of bf16 weights: with it, the
        # threads' results varied run to run (a resumed run did not repeat the uninterrupted one).
        with torch.autocast("cpu", dtype=cast[1], enabled=cast[0], cache_enabled=False):
            nll, state = self.span_nll(batch, "train", span, state, style)
        params = list(self.parameters())
        grads = torch.autograd.grad(nll.sum() / lines, params, allow_unused=True)
        return float(nll.detach().sum()), _detached(state), grads

    def _pool(self) -> ThreadPoolExecutor:
        """Threads that each run a part of the batch with one torch thread of their own."""
        if getattr(self, "_threads", None) is None:
            self._threads = ThreadPoolExecutor(self.hparams.batch_threads, initializer=_one_thread)
        return self._threads

    def _spans(self, epoch: int) -> int:
        """Spans per batch in an epoch: tbptt_spans in the first tbptt_epochs, then 1."""
        from common.budget import BudgetPlanner

        hp = self.hparams
        if any(isinstance(c, BudgetPlanner) for c in self.trainer.callbacks):
            return 1
        return hp.tbptt_spans if hp.tbptt_epochs is None or epoch < hp.tbptt_epochs else 1

    def on_train_epoch_end(self) -> None:
        # Lightning steps no schedule under manual optimization: the exponential one by epoch
        # here, unless something (--run.budget's planner) has already moved it this far.
        if not self.automatic_optimization and self.hparams.lr_schedule == "exponential":
            sched = self.lr_schedulers()
            if sched.last_epoch < self.current_epoch + 1:
                sched.step()

    def validation_step(self, batch, batch_idx):
        self._step(batch, "val")

    def configure_optimizers(self):
        opt = torch.optim.Adam(self.parameters(), lr=self.hparams.lr)
        if self.hparams.lr_schedule == "cosine":
            steps = max(1, int(self.trainer.estimated_stepping_batches))
            if not self.automatic_optimization and self.trainer.max_epochs:  # counts batches
                epochs = self.trainer.max_epochs  # optimizer steps: one per span
                steps = round(steps * sum(map(self._spans, range(epochs))) / epochs)
            final = self.hparams.lr * self.hparams.lr_final
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps, eta_min=final)
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
        sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=self.hparams.lr_decay)
        return {"optimizer": opt, "lr_scheduler": sched}

    # ---- writing -------------------------------------------------------------------------
    def primer(self, style: str) -> tuple[str, torch.Tensor]:
        """The priming line of a synthetic writer, in the network's normalised units."""
        if style not in hershey.WRITERS:
            raise ValueError(
                f"unknown style {style!r}; choose one of: {', '.join(hershey.WRITERS)}"
            )
        writer = hershey.with_pen_step(hershey.WRITERS[style], float(self.pen_step))
        offsets = torch.from_numpy(
            hershey.render_line(PRIMER_TEXT, writer, np.random.default_rng(0))
        )
        offsets[0, :2] = 0.0
        return PRIMER_TEXT, offsets / torch.cat([self.scale, torch.ones(1)])

    def write(self, text: str, **options) -> tuple:
        """Handwrite one line: `write_many([text], **options)[0]` (the options are
        `write_many`'s). Returns (offsets (T, 3) in data units, phi (T, U) or None, finished)."""
        return self.write_many([text], **options)[0]

    @torch.no_grad()
    def write_many(
        self,
        texts: list[str],
        style: str | None = None,
        bias: float = 1.0,
        seed: int = 0,
        max_steps: int | None = None,
        prime: bool | None = None,
        candidates: int = CANDIDATES,
    ) -> list[tuple]:
        """Handwrite several lines in one batch, one (offsets, phi, finished) per text: much
        faster than one by one. A line's pen depends on the whole batch and its seed; a batch of
        one is what `write` writes.

        `prime`: read the style's priming line first (Graves 5.5). None (the default) primes
        only where the network has no embedding of this writer: with one, the embedding alone
        writes lines the OCR judge reads better (model card). Raises ValueError for empty text,
        an unknown style or characters the network does not know. `candidates`: lines drawn,
        the one the network finds likeliest kept (`HandwritingRNN.generate_batch`).
        """
        alphabet = self.hparams.alphabet
        for text in texts:
            if not text.strip():
                raise ValueError("the text is empty: give some words to write")
            missing = unknown_characters(text, alphabet)
            if missing:
                raise ValueError(f"the model cannot write {missing!r}: it knows only {alphabet!r}")
        if prime is None:  # priming only for a writer the network has no embedding of
            prime = self.style_index(style) == 0
        primer, before = None, ""
        if style is not None and (prime or style not in hershey.WRITERS):
            prime_text, primer = self.primer(style)  # also refuses an unknown style by name
            before = prime_text + " "
        chars = [torch.from_numpy(encode(before + text, alphabet)) for text in texts]
        g = torch.Generator().manual_seed(seed)
        caps = [max_steps or 30 * len(text) + 60 for text in texts]  # each line's own limit
        samples = self.model.generate_batch(
            chars, max(caps), bias, primer, g, self.style_index(style), candidates
        )
        out = []
        for sample, cap in zip(samples, caps):
            offsets = sample.offsets[:cap].copy()
            offsets[:, :2] *= self.scale.cpu().numpy()
            if len(offsets):
                offsets[-1, 2] = 1.0
            phi = None
            if sample.phi is not None:
                phi = sample.phi[:cap, len(before) :]  # the new text's characters only
            out.append((offsets, phi, sample.finished and len(sample.offsets) <= cap))
        return out

    @torch.no_grad()
    def scribble(self, seed: int = 0, max_steps: int = 300) -> np.ndarray:
        """The prediction network's free writing (section 4, no text): (T, 3) offsets in data
        units."""
        g = torch.Generator().manual_seed(seed)
        offsets = self.model.generate(max_steps=max_steps, generator=g).offsets
        offsets[:, :2] *= self.scale.cpu().numpy()
        return offsets

    def write_artifacts(self, run_dir: Path, datamodule) -> dict:
        """Samples of validation text (never trained on) in every style, and an attention plot."""
        from handwriting.plots import save_attention, save_lines

        if not self.config.synthesis:
            save_lines([self.scribble(seed) for seed in range(3)], Path(run_dir) / "samples.png")
            return {}
        texts = [t[:24].strip() for t in getattr(datamodule, "val_sentences", None) or []]
        texts += [*getattr(getattr(datamodule, "val_set", None), "texts", []), "unseen words"]
        # the first that the network's alphabet (--data.alphabet) can write
        alphabet = self.hparams.alphabet
        text = next((t for t in texts if t and not unknown_characters(t, alphabet)), None)
        if text is None:
            return {}
        rows, titles, phi = [], [], None
        for style in hershey.WRITERS:
            offsets, p, _ = self.write(text, style=style, bias=1.5)
            rows.append(offsets)
            titles.append(f"{style} ({hershey.WRITERS[style].font}): {text}")
            phi = p if phi is None else phi
        save_lines(rows, Path(run_dir) / "samples.png", titles)
        if phi is not None:
            save_attention(phi, text, Path(run_dir) / "attention.png")
        (Path(run_dir) / "samples.json").write_text(json.dumps({"text": text}))
        return {}
