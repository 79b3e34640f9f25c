"""common.threads.one_thread: one torch thread inside, the caller's count restored after."""

import pytest
import torch

from common.threads import one_thread


def test_one_thread_inside_and_the_count_restored_even_after_an_error():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with one_thread():
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2

        @one_thread()
        def fails():
            assert torch.get_num_threads() == 1
            raise ValueError("boom")

        with pytest.raises(ValueError, match="boom"):
            fails()
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
