"""val/nll, the figure that picks the checkpoint, is the mean over points, as evaluate's."""

import lightning as L
import torch

from handwriting import mdn
from handwriting.data import HandwritingDataModule
from handwriting.evaluate import validation_nll
from handwriting.module import HandwritingModule


def test_val_nll_is_per_point_and_matches_evaluate(tmp_path, monkeypatch):
    monkeypatch.setenv("MAL2_DATA", str(tmp_path))
    dm = HandwritingDataModule(n_train=20, n_val=24, max_chars=20, batch_size=5)
    dm.setup("fit")
    torch.manual_seed(0)
    module = HandwritingModule(
        hidden_size=16, n_mixtures=3, n_window=2, styles=["ada", "ben", "cleo", "dora", "emil"]
    )
    module.scale.copy_(torch.tensor(dm.scale))  # as on_fit_start does
    trainer = L.Trainer(
        accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False
    )
    logged = trainer.validate(module, datamodule=dm, verbose=False)[0]["val/nll"]
    reference = validation_nll(module, dm)
    assert abs(logged - reference["val_nll_per_point"]) < 1e-4
    # a broken (per-batch, line-weighted) mean differs here: batches differ in points per line
    per_batch, lines = [], []
    with torch.no_grad():
        for batch in dm.val_dataloader():
            x, mask = batch["x"], batch["mask"]
            inputs = torch.cat([x.new_tensor([0.0, 0.0, 1.0]).expand(len(x), 1, 3), x[:, :-1]], 1)
            y, _, _ = module.model(inputs, batch["chars"], style=module._styles(batch, "val"))
            nll = mdn.nll(mdn.split_params(y, 3), x) * mask
            per_batch.append(float(nll.sum() / mask.sum()))
            lines.append(len(x))
    line_weighted = sum(p * n for p, n in zip(per_batch, lines)) / sum(lines)
    assert abs(line_weighted - reference["val_nll_per_point"]) > 1e-3
