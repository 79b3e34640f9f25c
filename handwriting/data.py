"""Pen-trajectory data sets and the LightningDataModule.

Two sources: the embedded default (synthetic lines from the Hershey fonts, generated once and
cached with a version stamp) and IAM-OnDB (parsed from the two archives a registered user
downloads). Both give lines of (dx, dy, pen_up) offsets in cap-height-like units with their text;
the module scales the offsets to unit standard deviation on the training set (Graves 2013, 4.1).
"""

from __future__ import annotations

import hashlib
import inspect
import os
from pathlib import Path

import lightning as L
import torch
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import DataLoader, Dataset

from common.batching import BucketSampler
from common.cache import load_tensors, save_tensors
from common.errors import DataError
from common.paths import data_root
from common.workers import worker_pool
from handwriting import hershey, iamondb
from handwriting.text import (
    TextMixer,
    encode,
    load_corpus,
    load_unseen,
    split_sentences,
    unknown_characters,
)

CACHE_VERSION = 6  # bump when the generated data change
CHUNK, PARALLEL_FROM = 500, 2000  # lines per drawing job; drawn in parallel from this many lines
ALPHABET = " !\"#&'()+,-./0123456789:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def data_dir() -> Path:
    return data_root() / "handwriting"


def generate_hershey(
    n_train: int,
    n_val: int,
    max_chars: int,
    seed: int,
    pen_step: float = 1,
    lead_letter: float = 0,
    alphabet: str = ALPHABET,
) -> dict:
    """Synthetic lines: each writer gets `Writer.share` parts of the training lines (cleo, the
    hardest hand, two) and an equal part of the validation lines. The text is mixed by
    `TextMixer` (words, names, addresses, numbers, dates, corpus runs); validation text comes
    from another random stream and the held-out corpus sentences, and no line of either split
    contains one of the OCR judge's unseen phrases. Deterministic for a seed: every line draws
    its pen from a random stream of its own, so the lines can be drawn in parallel (one process
    per core for large sets) and come out the same."""
    train_sents, val_sents = split_sentences(load_corpus(), seed, val_fraction=0.15)
    writers = [hershey.with_pen_step(w, pen_step) for w in hershey.WRITERS.values()]
    out = {}
    for split, sents, n, offset in [
        ("train", train_sents, n_train, 0),
        ("val", val_sents, n_val, 1),
    ]:
        mixer = TextMixer(sents, seed * 2 + offset, load_unseen(), lead_letter)
        texts = mixer.lines(n, max_chars, alphabet)
        cycle = list(range(len(writers)))
        if split == "train":
            cycle = [w for w, writer in enumerate(writers) for _ in range(writer.share)]
        ids = [cycle[i % len(cycle)] for i in range(n)]
        jobs = [[(i, texts[i], writers[ids[i]]) for i in range(a, min(a + CHUNK, n))]
                for a in range(0, n, CHUNK)]  # fmt: skip
        workers = min(len(os.sched_getaffinity(0)), 8, len(jobs)) if n >= PARALLEL_FROM else 1
        if workers > 1:
            with worker_pool(workers) as pool:
                drawn = list(pool.map(hershey.draw_lines, jobs, [(seed, offset)] * len(jobs)))
        else:
            drawn = [hershey.draw_lines(job, (seed, offset)) for job in jobs]
        lines = [torch.from_numpy(o) for part in drawn for o in part]
        out[split] = {"offsets": lines, "texts": texts, "writers": [writers[w].name for w in ids]}
    out["val_sentences"] = val_sents
    return out


def load_or_generate_hershey(*args, **kwargs) -> dict:
    """`generate_hershey(*args, **kwargs)` cached: the embedded data set, generated on first use
    (a few seconds per 1000 lines)."""
    spec = inspect.signature(generate_hershey).bind(*args, **kwargs)
    spec.apply_defaults()
    n_train, n_val, max_chars, seed, pen_step, lead_letter, alphabet = spec.arguments.values()
    lead = f"-l{lead_letter:g}" if lead_letter else ""  # 0: the name (and data) of before
    name = f"hershey-v{CACHE_VERSION}-n{n_train}-{n_val}-c{max_chars}-s{seed}-p{pen_step:g}"
    if alphabet != ALPHABET:  # the default alphabet: the name (and data) of before
        name += f"-a{hashlib.sha1(alphabet.encode()).hexdigest()[:8]}"
    name += f"{lead}.pt"
    path = data_dir() / name
    data = load_tensors(path, "handwriting data")
    if data is None:
        data = generate_hershey(n_train, n_val, max_chars, seed, pen_step, lead_letter, alphabet)
        save_tensors(data, path)
    return data


class StrokeDataset(Dataset):
    """(offsets (T, 3) scaled, chars (U,), writer name) per line."""

    def __init__(self, offsets: list, texts: list[str], writers: list[str], scale, alphabet: str):
        self.offsets, self.texts, self.writers = offsets, texts, writers
        self.scale = torch.tensor([scale[0], scale[1], 1.0])
        self.alphabet = alphabet

    def __len__(self) -> int:
        return len(self.offsets)

    def __getitem__(self, i: int):
        x = self.offsets[i].float() / self.scale
        x[0, :2] = 0.0  # lines start at the origin
        return x, torch.from_numpy(encode(self.texts[i], self.alphabet)), self.writers[i]

    def lengths(self) -> list[int]:
        return [len(o) for o in self.offsets]


def collate(batch):
    """Pad to the longest line: x (B, T, 3), mask (B, T), chars (B, U) with 0 = padding."""
    xs, cs, writers = zip(*batch)
    mask = [torch.ones(len(x), dtype=torch.bool) for x in xs]
    return {
        "x": pad_sequence(xs, batch_first=True),
        "mask": pad_sequence(mask, batch_first=True),
        "chars": pad_sequence(cs, batch_first=True),
        "writers": list(writers),
    }


class HandwritingDataModule(L.LightningDataModule):
    """Lines of online handwriting with their transcriptions (`--data.*`).

    Args:
        source: hershey (embedded synthetic writers, offline) or iamondb.
        path: Folder holding IAM-OnDB's lineStrokes-all.tar.gz and ascii-all.tar.gz.
        n_train: Synthetic training lines (hershey).
        n_val: Synthetic validation lines (hershey); IAM-OnDB uses val_fraction of its lines.
        max_chars: Longest text line, in characters (a priming line plus a demo line fit).
        max_points: Lines with more points are dropped (keeps batches short on a CPU).
        pen_step: Scales every synthetic writer's pen step (arc length between two points);
            larger: fewer points per character, shorter sequences.
        lead_letter: Share of synthetic lines that start with a word whose initial is drawn
            uniformly from the letters (`TextMixer`), so every letter begins many lines.
        batch_size: Lines per batch.
        num_workers: DataLoader workers (0 is fastest for this in-memory data).
        seed: Data generation and splits.
        val_fraction: Share of IAM-OnDB lines held out for validation.
        alphabet: The characters the lines may use, in the network's one-hot order (sets
            --model.alphabet): synthetic lines are drawn from them, other IAM-OnDB lines dropped.
    """

    def __init__(
        self,
        source: str = "hershey",
        path: str | None = None,
        n_train: int = 10000,
        n_val: int = 500,
        max_chars: int = 32,
        max_points: int = 480,
        pen_step: float = 1.5,
        lead_letter: float = 0.6,
        batch_size: int = 32,
        num_workers: int = 0,
        seed: int = 1234,
        val_fraction: float = 0.05,
        alphabet: str = ALPHABET,
    ):
        super().__init__()
        if source not in ("hershey", "iamondb"):
            raise DataError(f"--data.source must be 'hershey' or 'iamondb', not {source!r}")
        if source == "hershey" and min(n_train, n_val) < 1:  # was: "raise --data.max_points"
            raise DataError(f"--data.n_train {n_train}, --data.n_val {n_val}: give 1 line or more")
        if not alphabet or len(set(alphabet)) < len(alphabet):
            raise DataError(f"--data.alphabet {alphabet!r}: give each character once")
        undrawable = "".join(unknown_characters(alphabet, ALPHABET))
        if source == "hershey" and undrawable:
            raise DataError(
                f"--data.alphabet: the synthetic writers cannot draw {undrawable!r}; "
                f"use characters of {ALPHABET!r}"
            )
        if source == "iamondb" and not path:
            raise DataError(
                "--data.source iamondb needs --data.path DIR: the folder where you saved "
                "lineStrokes-all.tar.gz and ascii-all.tar.gz from the IAM-OnDB web site"
            )
        self.save_hyperparameters()
        self.alphabet = alphabet
        self.scale: tuple[float, float] = (1.0, 1.0)
        self.train_set = self.val_set = None
        self.val_sentences: list[str] = []

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        hp = self.hparams
        if hp.source == "hershey":
            data = load_or_generate_hershey(
                hp.n_train, hp.n_val, hp.max_chars, hp.seed, hp.pen_step, hp.lead_letter,
                alphabet=hp.alphabet,
            )  # fmt: skip
            self.val_sentences = data["val_sentences"]
        else:
            data = iamondb.load_or_parse(Path(hp.path), data_dir(), hp.val_fraction, hp.seed)
        splits = {s: self._filter(data[s], s) for s in ("train", "val")}
        self.scale = offset_scale(splits["train"]["offsets"])
        self.train_set = StrokeDataset(**splits["train"], scale=self.scale, alphabet=self.alphabet)
        self.val_set = StrokeDataset(**splits["val"], scale=self.scale, alphabet=self.alphabet)

    def _filter(self, split: dict, name: str) -> dict:
        """Drop lines that are too long or use characters outside the alphabet (with a count)."""
        keep = [
            i
            for i, (o, t) in enumerate(zip(split["offsets"], split["texts"]))
            if len(o) <= self.hparams.max_points and not unknown_characters(t, self.alphabet)
        ]
        dropped = len(split["texts"]) - len(keep)
        if dropped:
            print(
                f"handwriting data: dropped {dropped} of {len(split['texts'])} {name} lines "
                f"(over {self.hparams.max_points} points or unknown characters)"
            )
        if not keep:
            raise DataError(f"no usable {name} lines left; raise --data.max_points")
        return {k: [split[k][i] for i in keep] for k in ("offsets", "texts", "writers")}

    def _loader(self, dataset: StrokeDataset, shuffle: bool) -> DataLoader:
        hp = self.hparams
        sampler = BucketSampler(dataset.lengths(), hp.batch_size, shuffle, hp.seed)
        return DataLoader(
            dataset, batch_sampler=sampler, collate_fn=collate, num_workers=hp.num_workers
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, shuffle=False)


def offset_scale(offsets: list[torch.Tensor]) -> tuple[float, float]:
    """Standard deviation of dx and dy over a training set (Graves 2013, section 4.1)."""
    allpts = torch.cat([o[1:, :2] for o in offsets]).double()
    std = allpts.std(dim=0)
    return float(std[0]), float(std[1])
