"""network_config: a network's config object from its module's hyper-parameters only."""

from dataclasses import dataclass

import pytest

from common.settings import network_config


@dataclass
class Net:
    width: int
    depth: list[int]
    n_classes: int
    bands: int = 40  # a constant of the network, not a setting


def test_fields_come_from_the_hyperparameters_or_derived_values_and_constants_stay():
    hparams = {"width": 8, "depth": [2, 2], "lr": 0.1, "labels": "yes,no", "bands": 64}
    config = network_config(Net, hparams, n_classes=2)
    assert config == Net(width=8, depth=[2, 2], n_classes=2, bands=40)


def test_a_setting_the_module_does_not_have_is_an_error():
    with pytest.raises(KeyError, match="n_classes"):
        network_config(Net, {"width": 8, "depth": [2]})
