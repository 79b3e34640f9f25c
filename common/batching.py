"""Batches of sequences of similar length, for the assignments that pad sequences (handwriting's
pen trajectories, music's piano rolls)."""

from __future__ import annotations

import torch
from torch.utils.data import Sampler


class EpochOrder(Sampler):
    """The indices 0..n-1, shuffled by seed + epoch only (like DistributedSampler's set_epoch)."""

    def __init__(self, n: int, shuffle: bool, seed: int = 0):
        self.n, self.shuffle, self.seed, self.epoch = n, shuffle, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def generator(self) -> torch.Generator:
        return torch.Generator().manual_seed(self.seed + self.epoch)

    def order(self, g: torch.Generator) -> list[int]:
        return torch.randperm(self.n, generator=g).tolist() if self.shuffle else list(range(self.n))

    def __iter__(self):
        return iter(self.order(self.generator()))

    def __len__(self) -> int:
        return self.n


class BucketSampler(Sampler):
    """Batches of sequences of similar length (less padding: a recurrent layer runs step by
    step, so every padded step costs as much as a real one). Shuffled per epoch, deterministic.

    Batches are cut from pools of `pool` batches, each pool sorted by length: a large pool pads
    least; a small one changes the batches' composition from epoch to epoch.

    Exact resume: Lightning calls `set_epoch` on `.sampler` (not on the batch sampler), on resume
    after making the loader's iterator; so `__iter__` is a generator that draws the order at the
    first batch. A pass without Lightning moves on to the next epoch.
    """

    def __init__(
        self, lengths: list[int], batch_size: int, shuffle: bool, seed: int = 0, pool: int = 50
    ):
        self.lengths, self.batch_size, self.shuffle, self.pool = lengths, batch_size, shuffle, pool
        self.sampler = EpochOrder(len(lengths), shuffle, seed)

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)

    def __iter__(self):
        g = self.sampler.generator()
        self.sampler.epoch += 1
        order = self.sampler.order(g)
        chunk = self.batch_size * max(self.pool, 1)
        batches = []
        for s in range(0, len(order), chunk):
            part = sorted(order[s : s + chunk], key=lambda i: self.lengths[i])
            batches += [part[k : k + self.batch_size] for k in range(0, len(part), self.batch_size)]
        if self.shuffle:
            batches = [batches[i] for i in torch.randperm(len(batches), generator=g).tolist()]
        yield from batches

    def __len__(self) -> int:
        return (len(self.lengths) + self.batch_size - 1) // self.batch_size
