"""Features, SpecAugment, SubSpectralNorm and BC-ResNet: shapes, invariants, references."""

import pytest
import torch

from speech.config import ModelConfig
from speech.model import BCResNet, KeywordSpotter, LogMel, SpecAugment, SubSpectralNorm


def test_log_mel_shape_and_normalisation_and_gain_invariance():
    wav = torch.randn(3, 16000)
    feats = LogMel()(wav)
    assert feats.shape == (3, 1, 40, 101)  # (B, 1, n_mels, frames of 10 ms)
    assert torch.allclose(feats.mean(dim=(1, 2, 3)), torch.zeros(3), atol=1e-4)
    assert torch.allclose(feats.std(dim=(1, 2, 3)), torch.ones(3), atol=1e-3)
    assert torch.allclose(LogMel()(0.01 * wav), feats, atol=1e-3)  # recording level cancels


def test_spec_augment_masks_only_in_training():
    aug = SpecAugment(freq_mask=10, time_mask=30)
    x = torch.randn(4, 1, 40, 101)
    aug.eval()
    assert torch.equal(aug(x), x)
    aug.train()
    torch.manual_seed(0)
    masked = aug(x)
    assert (masked == 0).any() and masked.shape == x.shape


def test_sub_spectral_norm_matches_per_band_batch_norm():
    torch.manual_seed(0)
    x = torch.randn(8, 3, 20, 11) * 3 + 1
    ssn = SubSpectralNorm(3, sub_bands=5).train()
    y = ssn(x)
    for band in range(5):  # each (channel, 4-bin band) has its own zero mean, unit variance
        part = y[:, :, band * 4 : (band + 1) * 4]
        assert torch.allclose(part.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5)
        assert torch.allclose(part.var(dim=(0, 2, 3), unbiased=False), torch.ones(3), atol=1e-3)


@pytest.mark.parametrize(("width", "low", "high"), [(8, 9_000, 11_000), (64, 300_000, 340_000)])
def test_bc_resnet_size_matches_the_paper(width, low, high):
    # Kim et al. 2021 report 9.2k parameters for BC-ResNet-1 and 321k for BC-ResNet-8 (12 classes)
    n = sum(p.numel() for p in BCResNet(ModelConfig(width=width), 12).parameters())
    assert low < n < high


def test_keyword_spotter_logits_and_batch_independence_in_eval():
    model = KeywordSpotter(ModelConfig(width=8, activation="relu"), 35).eval()
    wav = torch.randn(5, 16000)
    with torch.no_grad():
        logits = model(wav)
        single = model(wav[2:3])
    assert logits.shape == (5, 35)
    assert torch.allclose(logits[2:3], single, atol=1e-4)


def test_bad_model_options_are_refused():
    with pytest.raises(ValueError, match="n_mels"):
        BCResNet(ModelConfig(n_mels=64), 35)
    with pytest.raises(KeyError):
        KeywordSpotter(ModelConfig(activation="swishy"), 35)


def test_training_uses_bf16_only_where_the_cpu_has_it_and_the_user_did_not_choose(monkeypatch):
    from speech import train

    seen = []
    monkeypatch.setattr(train, "train_main", lambda *a, args, **k: seen.append(args))
    for native, user, expected in [
        (True, [], "bf16-mixed"),
        (False, [], None),
        (True, ["--trainer.precision", "32-true"], "32-true"),  # the user's choice comes last
    ]:
        monkeypatch.setattr(train, "cpu_has_bf16", lambda native=native: native)
        train.main(list(user))
        args = seen[-1]
        chosen = [args[i + 1] for i, a in enumerate(args) if a == "--trainer.precision"]
        assert (chosen[-1] if chosen else None) == expected
