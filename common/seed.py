"""One seeding function for every run: Python, NumPy, torch and data-loader workers."""

from __future__ import annotations

import os

import torch
from lightning.pytorch import seed_everything as _lightning_seed


def seed_everything(seed: int, deterministic: bool = False) -> int:
    """Seed Python's `random`, NumPy, torch (CPU and CUDA) and DataLoader workers; with
    `deterministic` torch also uses deterministic algorithms (the CPU kernels used here are)."""
    # workers=True derives every DataLoader worker's seed from this one (PL_SEED_WORKERS).
    seed = _lightning_seed(seed, workers=True, verbose=False)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    return seed
