"""One source per setting: a network's config object built from its module's hyper-parameters."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, fields
from typing import Any, TypeVar

T = TypeVar("T")


def network_config(config_class: type[T], hparams: Mapping[str, Any], **derived: Any) -> T:
    """`config_class` (a dataclass, as nanoGPT's GPTConfig) from the LightningModule's
    hyper-parameters: each field without a default takes the hyper-parameter of its name,
    unless `derived` gives it (a value computed from them, e.g. alphabet_size=len(alphabet)).
    Fields with a default are constants of the network, not settings."""
    names = [f.name for f in fields(config_class) if f.default is MISSING and f.name not in derived]
    return config_class(**{name: hparams[name] for name in names}, **derived)
