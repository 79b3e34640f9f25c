"""One torch thread while sampling, the one workaround every generator needs in one place."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def one_thread() -> Iterator[None]:
    """Run the block (or, as `@one_thread()`, the function) on one torch thread, then restore.

    Sampling one step at a time is a chain of tiny operations: extra intra-op threads only add
    synchronisation, which on a busy 2-core CPU makes it many times slower.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
