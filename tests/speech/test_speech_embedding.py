"""The frozen speech embedding: the torch re-run of openWakeWord's ONNX files against
onnxruntime on them, its cache, and the two-branch network built on it."""

import numpy as np
import onnxruntime as ort
import pytest
import torch

from speech.embedding import PAD, SpeechEmbedding, embed_clips, model_files
from speech.model import KeywordSpotter, fuse
from tests.conftest import roots_under
from tests.speech.conftest import network_config


def onnx_reference(wav: np.ndarray) -> np.ndarray:
    """openWakeWord's own recipe for one clip: log-mels / 10 + 2, then a window of 76 frames
    every 8 frames, each through the embedding model -> (4, 96)."""
    mel_file, emb_file = model_files()
    mel = ort.InferenceSession(str(mel_file), providers=["CPUExecutionProvider"])
    emb = ort.InferenceSession(str(emb_file), providers=["CPUExecutionProvider"])
    x = np.pad(wav, (PAD, PAD))[None].astype(np.float32) * 32767
    spec = mel.run(None, {"input": x})[0][0, 0] / 10 + 2  # (100, 32)
    windows = np.stack([spec[i : i + 76] for i in range(0, len(spec) - 75, 8)])[..., None]
    return emb.run(None, {"input_1": windows.astype(np.float32)})[0].reshape(-1, 96)


def test_embedding_matches_the_onnx_models():
    g = torch.Generator().manual_seed(0)
    wavs = torch.randn(2, 16000, generator=g) * 0.1
    wavs[1] *= torch.linspace(0, 1, 16000)  # a louder second half: level differs per clip
    net = SpeechEmbedding()
    with torch.no_grad():
        ours = net(wavs).permute(0, 2, 1).numpy()  # (2, 4, 96)
    for i in range(2):
        ref = onnx_reference(wavs[i].numpy())
        assert ref.shape == ours[i].shape == (4, 96)
        assert np.abs(ours[i] - ref).max() < 1e-4 * np.abs(ref).max()


def test_embedding_is_frozen_and_not_saved():
    net = KeywordSpotter(network_config(pretrained=True), 3).eval()
    assert not any("embedding." in k for k in net.state_dict())  # Google's weights stay out
    assert all(not p.requires_grad for p in net.embedding.buffers())
    assert list(net.embedding.parameters()) == []
    wav = torch.randn(2, 16000) * 0.1
    (a, b) = net.branches(wav)
    assert a.shape == b.shape == (2, 3)
    out = net(wav)
    assert torch.allclose(out, fuse([a, b]))
    assert torch.allclose(out.exp().sum(-1), torch.ones(2), atol=0.2)  # a product of experts
    net.train()
    sum(x.sum() for x in net.branches(wav)).backward()
    assert net.embedding_head.net[0].weight.grad is not None


def test_cached_embeddings_are_the_network_s(tmp_path, capsys):
    from common.cache import save_tensors
    from speech.data import KeywordDataModule

    with roots_under(tmp_path) as root:
        tiny = dict(labels="yes,no", train_per_word=2, val_per_word=1, test_per_word=1)
        dm = KeywordDataModule(**tiny)
        net = SpeechEmbedding()
        dm.attach_embeddings(net)
        wav, target, emb = dm.splits["val"][0]
        assert torch.allclose(emb, net(wav[None])[0], atol=1e-4)
        (cache,) = (root / "data").rglob("embedding-v*.pt")
        save_tensors(torch.zeros(6, 96, 4), cache)  # a stale cache of other clips
        again = KeywordDataModule(**tiny)
        again.attach_embeddings(net)
        assert torch.allclose(again.splits["val"].embeddings, dm.splits["val"].embeddings)
        # a truncated cache (a full disk, a copy cut short) was fed to numpy: a ValueError
        cache.write_bytes(cache.read_bytes()[:1000])
        cache.with_suffix(".npy").write_bytes(b"\x93NUMPY")  # the cache's old form: 18 MB
        third = KeywordDataModule(**tiny)
        third.attach_embeddings(net)
        assert f"speech embedding: the cache is damaged: {cache}" in capsys.readouterr().out
        assert torch.allclose(third.splits["val"].embeddings, dm.splits["val"].embeddings)
        assert not cache.with_suffix(".npy").exists()  # removed with the new one written
        fresh = embed_clips(net, dm.splits["test"].clips)
        assert torch.allclose(fresh, dm.splits["test"].embeddings, atol=1e-4)


@pytest.mark.parametrize("cnn_neural, cached", [(False, True), (True, True), (False, False)])
def test_the_cnn_learns_espeak_voices_only_and_the_head_all_voices(cnn_neural, cached):
    """cached False: the embeddings are computed from the batch's clips, as with
    --data.time_shift_ms (it crashed: the head heard only the CNN's rows)."""
    from speech.module import KeywordModule

    torch.manual_seed(0)
    module = KeywordModule(labels="yes,no", width=8, cnn_neural=cnn_neural)
    module.log = lambda *args, **kwargs: None  # no trainer here
    seen = {"cnn": [], "head": []}
    module.model.net.register_forward_pre_hook(lambda m, x: seen["cnn"].append(len(x[0])))
    module.model.embedding_head.register_forward_pre_hook(
        lambda m, x: seen["head"].append(len(x[0]))
    )
    wav, target = torch.randn(6, 16000) * 0.1, torch.tensor([0, 1, 0, 1, 0, 1])
    emb = [torch.randn(6, 96, 4)] if cached else []
    neural = torch.tensor([True, False, False, True, False, False])
    loss = module.training_step((wav, target, *emb, neural), 0)
    assert seen == {"cnn": [6 if cnn_neural else 4], "head": [6]}
    loss.backward()
    assert module.model.net.classifier[-1].weight.grad.abs().sum() > 0
    assert module.model.embedding_head.net[0].weight.grad.abs().sum() > 0
    # a batch of the neural voice alone: the CNN takes all of it (BatchNorm needs clips)
    seen["cnn"].clear()
    module.training_step(
        (wav[:2], target[:2], *(e[:2] for e in emb), torch.tensor([True, True])), 0
    )
    assert seen["cnn"] == [2]


@pytest.mark.parametrize("channel_prob, augmented", [(0.0, []), (1.0, [4])])
def test_training_augments_the_cnn_s_clips_only_and_by_default_none(channel_prob, augmented):
    from speech.module import KeywordModule

    wav, target = torch.randn(6, 16000) * 0.1, torch.tensor([0, 1, 0, 1, 0, 1])
    emb, neural = torch.randn(6, 96, 4), torch.tensor([True, False, False, True, False, False])
    module = KeywordModule(labels="yes,no", width=8, channel_prob=channel_prob)
    module.log = lambda *args, **kwargs: None  # no trainer here
    calls, heard, augment = [], [], module.augment
    module.augment = lambda w: calls.append(len(w)) or augment(w)
    module.model.features.register_forward_pre_hook(lambda m, x: heard.append(x[0]))
    module.training_step((wav.clone(), target, emb, neural), 0)
    assert calls == augmented  # the CNN's 4 eSpeak rows, or no call (and no copy) at all
    assert torch.equal(heard[0], wav[~neural]) == (channel_prob == 0)


def test_a_batch_s_extras_split_into_embeddings_and_the_neural_voice_flag():
    from speech.module import split_extras

    emb, later = torch.randn(3, 96, 4), torch.randn(3, 96, 4)
    flag = torch.tensor([True, False, True])
    embs, neural = split_extras([emb, flag, later])
    assert len(embs) == 2 and embs[0] is emb and embs[1] is later and neural is flag
    embs, neural = split_extras([emb])  # validation, test: no flag
    assert len(embs) == 1 and embs[0] is emb and neural is None
    assert split_extras([flag]) == ([], flag) and split_extras([]) == ([], None)


def test_predictions_on_the_training_split_ignore_its_neural_voice_flag():
    """`speech.evaluate --split train` (and the notebook) read the training split, whose items
    carry the "said by the neural voice" flag after the cached embedding: not an input."""
    from torch.utils.data import TensorDataset

    from speech.module import KeywordModule

    torch.manual_seed(0)
    module = KeywordModule(labels="yes,no", width=8)
    wav, target = torch.randn(6, 16000) * 0.1, torch.tensor([0, 1, 0, 1, 0, 1])
    emb = torch.randn(6, 96, 4)
    neural = torch.tensor([True, False, False, True, False, False])
    preds, targets = module.predict_dataset(TensorDataset(wav, target, emb, neural), batch_size=4)
    expected, _ = module.predict_dataset(TensorDataset(wav, target, emb), batch_size=4)
    assert preds.shape == (6,) and torch.equal(targets, target) and torch.equal(preds, expected)


def test_the_gate_weights_the_branches_and_starts_as_the_equal_vote():
    net = KeywordSpotter(network_config(pretrained=True, gate=True), 3).eval()
    wav = torch.randn(2, 16000) * 0.1
    (a, b), pooled = net.branches(wav, pooled=True)
    assert pooled.shape == (2, net.net.classifier[-1].in_features)
    assert torch.allclose(net(wav), fuse([a, b]))  # unfitted: w = 1/2
    for bias, trusted in ((20.0, a), (-20.0, b)):
        torch.nn.init.constant_(net.gate.net[-1].bias, bias)
        assert torch.allclose(net(wav), trusted.log_softmax(-1), atol=1e-4)


def test_fit_gate_trusts_the_branch_that_is_right(monkeypatch):
    """Branches that are each right on half of the clips, told apart by one pooled feature: the
    fitted gate must trust the CNN on its half and the head on the other."""
    import torch.nn.functional as F
    from torch.utils.data import TensorDataset

    from speech.module import KeywordModule

    torch.manual_seed(0)
    module = KeywordModule(labels="yes,no", width=8, gate=True)
    channels = module.model.gate.mean.shape[0]

    def branches(wav, *emb, pooled=False):  # wav[:, 0]: which branch is right; wav[:, 1]: word
        side, right = wav[:, :1], F.one_hot(wav[:, 1].long(), 2).float() * 8 - 4
        cnn, head = torch.where(side > 0, right, -right), torch.where(side > 0, -right, right)
        feats = torch.cat([side, 0.1 * torch.randn(len(wav), channels - 1)], dim=1)
        return [cnn, head], feats

    monkeypatch.setattr(module.model, "branches", branches)
    monkeypatch.setattr("speech.module.audio.random_channel", lambda wav, gen: wav)
    n = 400
    wav = torch.zeros(n, 16000)
    wav[:, 0] = torch.arange(n) % 2 * 2 - 1.0
    wav[:, 1] = torch.arange(n) // 2 % 2
    module.fit_gate(TensorDataset(wav, wav[:, 1].long(), torch.zeros(n, 96, 4)))
    _, feats = branches(wav)
    w = module.model.gate(feats)[:, 0]
    assert (w[wav[:, 0] > 0] > 0.8).all() and (w[wav[:, 0] < 0] < 0.2).all()  # unfitted: 1/2


def test_fit_gate_does_not_read_a_feature_that_does_not_vary(monkeypatch):
    """A dead channel's pooled feature differs between clips by float rounding alone (which the
    checkpoint and its ONNX export do not share): the gate must ignore it, not scale it up."""
    from torch.utils.data import TensorDataset

    from speech.module import KeywordModule

    torch.manual_seed(0)
    module = KeywordModule(labels="yes,no", width=8, gate=True)
    channels = module.model.gate.mean.shape[0]

    def branches(wav, *emb, pooled=False):  # feature 0: 0.25 +- rounding; the others vary
        feats = torch.randn(len(wav), channels)
        feats[:, 0] = 0.25 + 1e-7 * torch.randn(len(wav))
        return [torch.randn(len(wav), 2), torch.randn(len(wav), 2)], feats

    monkeypatch.setattr(module.model, "branches", branches)
    monkeypatch.setattr("speech.module.audio.random_channel", lambda wav, gen: wav)
    n = 200
    module.fit_gate(
        TensorDataset(torch.zeros(n, 16000), torch.arange(n) % 2, torch.zeros(n, 96, 4))
    )
    gate = module.model.gate
    assert torch.isinf(gate.std[0]) and torch.isfinite(gate.std[1:]).all()
    feats = torch.randn(5, channels)
    moved = feats.clone()
    moved[:, 0] += 1e-5  # a rounding difference
    assert torch.equal(gate(feats), gate(moved))


def test_a_checkpoint_from_before_the_gate_loads_with_the_equal_vote():
    from speech.module import KeywordModule

    module = KeywordModule(labels="yes,no", width=8, gate=True)
    old = {k: v for k, v in module.state_dict().items() if not k.startswith("model.gate.")}
    torch.nn.init.constant_(module.model.gate.net[-1].bias, 5.0)
    module.load_state_dict(old)
    assert torch.allclose(module.model.gate(torch.randn(3, 32)), torch.full((3, 1), 0.5))
