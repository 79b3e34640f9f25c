"""Features, SpecAugment, SubSpectralNorm and BC-ResNet: shapes, invariants, references; the
optimiser, schedule and loss options of the KeywordModule."""

from dataclasses import replace
from types import SimpleNamespace

import pytest
import torch

from common.errors import ConfigError
from speech.model import (
    BCResNet,
    DepthwiseConv2d,
    KeywordSpotter,
    LogMel,
    SpecAugment,
    SubSpectralNorm,
)
from speech.module import KeywordModule
from tests.conftest import refused_option
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


def test_top_db_floors_each_clip_that_far_below_its_loudest_bin():
    # white noise fading by 100 dB over the second: every level from the loudest bin down
    fade = 10 ** (-5 * torch.arange(16000) / 16000)
    wav = torch.randn(2, 16000, generator=torch.Generator().manual_seed(3)) * fade
    wav[1] *= 0.01  # the floor follows each clip's own loudest bin
    share = {}
    for top_db in (20.0, 50.0):
        module = KeywordModule(labels="yes,no", width=8, pretrained=False, top_db=top_db)
        log_mel = module.model.features
        feats = log_mel(wav).squeeze(1)  # (B, n_mels, T)
        raw = 10 * torch.log10(log_mel.mel(wav).clamp(min=1e-10))  # the unfloored dB
        below = raw < raw.amax(dim=(1, 2), keepdim=True) - top_db
        # the bins under the floor all read the floor, each clip's lowest feature; none above
        assert torch.equal(feats == feats.amin(dim=(1, 2), keepdim=True), below)
        share[top_db] = below.float().mean().item()
    assert share[20.0] > share[50.0] + 0.2  # the more dB kept, the fewer bins floored


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
    with pytest.raises(ConfigError, match="activation='swishy'"):  # was a bare KeyError
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


def optimizer_of(module: KeywordModule, steps: int = 100) -> tuple:
    """The module's optimizer and one-cycle schedule for a run of `steps` training steps."""
    module._trainer = SimpleNamespace(estimated_stepping_batches=steps)
    config = module.configure_optimizers()
    return config["optimizer"], config["lr_scheduler"]["scheduler"]


@pytest.mark.parametrize("weight_decay", [0.0, 0.05])
def test_weight_decay_reaches_adamw_as_configured(weight_decay):
    module = KeywordModule(labels="yes,no", width=8, pretrained=False, weight_decay=weight_decay)
    opt, _ = optimizer_of(module)
    assert isinstance(opt, torch.optim.AdamW)
    assert [g["weight_decay"] for g in opt.param_groups] == [weight_decay]
    before = [p.detach().clone() for p in module.parameters()]
    for p in module.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()  # a zero gradient: only AdamW's decoupled decay moves the weights
    shrink = 1 - opt.param_groups[0]["lr"] * weight_decay  # the schedule's first lr, lr / 25
    for old, new in zip(before, module.parameters()):
        assert torch.allclose(new, old * shrink, rtol=1e-7, atol=0)


@pytest.mark.parametrize("warmup", [0.1, 0.3])
def test_warmup_is_the_share_of_the_steps_before_the_learning_rate_peaks(warmup):
    module = KeywordModule(labels="yes,no", width=8, pretrained=False, lr=0.02, warmup=warmup)
    opt, sched = optimizer_of(module, steps=100)
    lrs = []
    for _ in range(100):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()  # no gradients: the weights stay, the schedule moves on
        sched.step()
    lrs, peak = torch.tensor(lrs), round(warmup * 100) - 1
    assert lrs.argmax().item() == peak and lrs[peak].item() == pytest.approx(0.02)
    assert (lrs[: peak + 1].diff() > 0).all() and (lrs[peak:].diff() < 0).all()


@pytest.mark.filterwarnings("ignore:You are trying to `self.log")  # no trainer: not logged
def test_training_loss_is_cross_entropy_with_label_smoothing():
    wav = torch.randn(6, 16000, generator=torch.Generator().manual_seed(4))
    target = torch.tensor([0, 1, 2, 0, 1, 2])
    losses = {}
    for eps in (0.0, 0.1, 0.3):
        torch.manual_seed(0)  # the same weights each time
        module = KeywordModule(labels="yes,no,up", width=8, pretrained=False, label_smoothing=eps)
        module.eval()  # no dropout or masks: the step sees the logits computed here
        with torch.no_grad():
            logp = module(wav).log_softmax(dim=-1)  # (6, 3)
            losses[eps] = module.training_step((wav, target), 0).item()
        # by hand: 1 - eps of the target's weight on its class, eps spread over all classes
        nll, uniform = -logp[torch.arange(6), target].mean(), -logp.mean()
        assert losses[eps] == pytest.approx(((1 - eps) * nll + eps * uniform).item(), rel=1e-5)
    assert losses[0.0] != losses[0.1] != losses[0.3]


@pytest.mark.parametrize(
    "option, value", [("depth", "[1, 1, 1]"), ("depth", "[0, 1, 1, 1]"), ("activation", "ReLU"),
                      ("norm", "mean")]
)  # fmt: skip
def test_train_refuses_a_network_option_it_cannot_build(option, value, isolated, capsys):
    """--model.depth with other than four stages crashed in a convolution, --model.activation
    ReLU with a bare KeyError, --model.norm mean with a traceback: each is now `error: ...`."""
    from speech import train

    argv = ["--data.labels", "yes,no", f"--model.{option}", value]
    assert f"{option}={value}" in refused_option(train.main, argv, capsys).replace("'", "")
