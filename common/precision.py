"""Which floating-point path a run takes on this CPU: bf16 mixed precision or float32.

`cpu_has_bf16()` asks torch whether the CPU computes bfloat16 natively (AVX512-BF16 or AMX).
`MAL2_BF16` overrides the answer, for tests and for timing the float32 path on any machine:

    MAL2_BF16=0 python -m speech.train     # behave as on a CPU without native bf16
    MAL2_BF16=1 python -m speech.train     # behave as on one with it (slow where it is emulated)

To emulate a CPU without native bf16 completely, also cap oneDNN and ATen below AVX-512
(before Python starts): `ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 MAL2_BF16=0`.
"""

from __future__ import annotations

import os

import torch

from common.errors import UserError

BF16_ENV = "MAL2_BF16"
_CHOICES = {"0": False, "1": True, "": None, "auto": None}


def bf16_override() -> bool | None:
    """`MAL2_BF16` as True/False, or None when unset/`auto` (use the CPU's flags)."""
    value = os.environ.get(BF16_ENV, "").strip().lower()
    if value not in _CHOICES:
        raise UserError(
            f"{BF16_ENV}={os.environ[BF16_ENV]!r} is not understood; use {BF16_ENV}=0 (float32, "
            f"as on a CPU without native bf16), {BF16_ENV}=1 (bf16) or leave it unset (detect)"
        )
    return _CHOICES[value]


def cpu_has_bf16_hardware() -> bool:
    """Whether the CPU's flags say it computes bfloat16 natively (ignores `MAL2_BF16`)."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def cpu_is_what_ci_emulates() -> bool:
    """Whether this CPU, as it is, already is the CPU `.ci/run`'s second pass emulates (neither
    native bf16 nor AVX-512, so oneDNN and ATen run float32 at AVX2 or below anyway): there the
    first pass was that run, and the second would repeat it. Ignores `MAL2_BF16`."""
    avx512 = getattr(torch.cpu, "_is_avx512_supported", lambda: True)()  # unknown: assume it
    return not cpu_has_bf16_hardware() and not avx512


def cpu_has_bf16() -> bool:
    """Whether to treat this CPU as one with native bf16: `MAL2_BF16` if set, else its flags."""
    forced = bf16_override()
    return cpu_has_bf16_hardware() if forced is None else forced
