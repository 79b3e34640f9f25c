"""Features, SpecAugment, SubSpectralNorm and BC-ResNet: shapes, invariants, references."""

from dataclasses import replace

import pytest
import torch

from speech.model import (
    BCResNet,
    DepthwiseConv2d,
    KeywordSpotter,
    LogMel,
    SpecAugment,
    SubSpectralNorm,
)
from speech.module import KeywordModule
from tests.speech.conftest import network_config


def test_log_mel_shape_and_normalisation_and_gain_invariance():
    wav = torch.randn(3, 16000)
    log_mel = LogMel(network_config())  # the module's defaults: 25 ms hop
    feats = log_mel(wav)
    assert feats.shape == (3, 1, 40, 41)  # (B, 1, n_mels, frames of 25 ms)
    assert torch.allclose(feats.mean(dim=(1, 2, 3)), torch.zeros(3), atol=1e-4)
    assert torch.allclose(feats.std(dim=(1, 2, 3)), torch.ones(3), atol=1e-3)
    assert torch.allclose(log_mel(0.01 * wav), feats, atol=1e-3)  # recording level cancels


def test_lifter_keeps_the_spectral_envelope_and_drops_the_fine_detail():
    wav = torch.randn(2, 16000)
    plain = LogMel(network_config())(wav)
    # every DCT coefficient kept: the orthonormal DCT and its transpose give back the log-mels
    assert torch.allclose(LogMel(network_config(lifter=40))(wav), plain, atol=1e-4)
    smooth = LogMel(network_config(lifter=13))
    feats = smooth(wav)  # (B, 1, n_mels, T)
    assert feats.shape == plain.shape
    assert not torch.allclose(feats, plain, atol=1e-2)
    frames = feats.squeeze(1).transpose(1, 2)  # (B, T, n_mels)
    coeffs = frames @ LogMel(network_config(lifter=40)).dct  # (B, T, 40): every coefficient
    assert coeffs[..., 13:].abs().max() < 1e-4  # nothing left above the 13th (the per-clip
    assert coeffs[..., :13].abs().max() > 0.1  # normalisation moves frames within the span)


def test_spec_augment_masks_only_in_training():
    aug = SpecAugment(network_config(freq_mask=10, time_mask=30, n_masks=2))
    x = torch.randn(4, 1, 40, 101)
    aug.eval()
    assert torch.equal(aug(x), x)
    aug.train()
    torch.manual_seed(0)
    masked = aug(x)
    assert (masked == 0).any() and masked.shape == x.shape


@pytest.mark.parametrize(
    "kernel, stride, padding, dilation",
    [((1, 3), 1, (0, 4), (1, 4)), ((3, 1), (2, 1), (1, 0), 1), ((5, 5), 1, (0, 2), 1)],
)
def test_depthwise_conv_matches_torch_conv2d(kernel, stride, padding, dilation):
    torch.manual_seed(0)
    conv = DepthwiseConv2d(6, kernel, stride, padding, dilation)
    x = torch.randn(3, 6, 10, 17, requires_grad=True)
    y = conv(x)
    ref_x = x.detach().clone().requires_grad_()
    ref = torch.nn.functional.conv2d(ref_x, conv.weight, None, stride, padding, dilation, groups=6)
    assert y.shape == ref.shape and torch.allclose(y, ref, atol=1e-5)
    g = torch.randn_like(y)
    (w_grad,) = torch.autograd.grad(y, conv.weight, g, retain_graph=True)
    (x_grad,) = torch.autograd.grad(y, x, g)
    ref_w, ref_xg = torch.autograd.grad(ref, (conv.weight, ref_x), g)
    assert torch.allclose(w_grad, ref_w, atol=1e-4) and torch.allclose(x_grad, ref_xg, atol=1e-5)
    # same parameters as the nn.Conv2d it replaces: older checkpoints load unchanged
    plain = torch.nn.Conv2d(6, 6, kernel, stride, padding, dilation, groups=6, bias=False)
    assert {k: v.shape for k, v in plain.state_dict().items()} == {
        k: v.shape for k, v in conv.state_dict().items()
    }


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
    net = BCResNet(network_config(width=width, depth=[2, 2, 4, 4]), 12)  # the paper's stages
    n = sum(p.numel() for p in net.parameters())
    assert low < n < high


def test_keyword_spotter_logits_and_batch_independence_in_eval():
    model = KeywordSpotter(network_config(width=8, activation="relu"), 35).eval()
    wav = torch.randn(5, 16000)
    with torch.no_grad():
        logits = model(wav)
        single = model(wav[2:3])
    assert logits.shape == (5, 35)
    assert torch.allclose(logits[2:3], single, atol=1e-4)


def test_time_stride_halves_the_frames_the_blocks_see_and_keeps_the_parameters():
    seen = {}
    for stride in (1, 2):
        net = BCResNet(network_config(width=8, time_stride=stride), 35).eval()
        net.blocks.register_forward_hook(lambda m, i, o, s=stride: seen.__setitem__(s, o.shape))
        with torch.no_grad():
            assert net(torch.randn(2, 1, 40, 51)).shape == (2, 35)
        seen[f"params{stride}"] = sum(p.numel() for p in net.parameters())
    assert seen[1][-1] == 51 and seen[2][-1] == 26  # (B, C, 5, T): 51 frames -> 26
    assert seen["params1"] == seen["params2"]  # same weights: a stride, not a new layer


def test_bad_model_options_are_refused():
    with pytest.raises(ValueError, match="n_mels"):
        BCResNet(replace(network_config(), n_mels=64), 35)
    with pytest.raises(KeyError):
        KeywordSpotter(network_config(activation="swishy"), 35)


def test_training_asks_for_bf16_where_the_cpu_has_it(monkeypatch):
    from common import cli
    from speech import train

    seen = []
    monkeypatch.setattr(cli, "train_main", lambda *a, **k: seen.append(k))  # main imports it
    train.main([])
    assert seen[-1]["bf16_where_native"] is True


def test_a_checkpoint_from_before_the_time_stride_is_refused_not_run_with_another_stride(tmp_path):
    from common.checkpoints import CheckpointError, load_module

    module = KeywordModule(width=8, time_stride=2)  # not the default: the stored one is read
    hparams = {k: v for k, v in module.hparams.items() if k != "time_stride"}
    state = {k: v for k, v in module.state_dict().items() if not k.endswith("time_stride")}
    path = tmp_path / "old.ckpt"
    torch.save(
        {"state_dict": state, "hyper_parameters": hparams, "mal2": {"assignment": "speech"}}, path
    )
    with pytest.raises(CheckpointError, match="train a new one"):
        load_module(path, KeywordModule, "speech")
    torch.save({"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams),
                "mal2": {"assignment": "speech"}}, path)  # fmt: skip
    assert load_module(path, KeywordModule, "speech").hparams.time_stride == 2
