"""`needs_native_bf16`: for checks that only a CPU with native bfloat16 arithmetic can run.

oneDNN has no bf16 kernels for some layers (nn.LSTM) on a CPU without AVX512-BF16 or AMX, so
such a check is skipped there, and under `MAL2_BF16=0` (how `.ci/run` emulates that CPU). The
float32 path those CPUs take is tested beside it.
"""

import pytest

from common.precision import cpu_has_bf16

needs_native_bf16 = pytest.mark.skipif(
    not cpu_has_bf16(),
    reason="needs a CPU with native bf16 (AVX512-BF16 or AMX); MAL2_BF16=0 forces this off",
)
