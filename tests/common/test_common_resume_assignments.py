"""Every assignment resumes exactly: a tiny run that crashes in its second epoch, resumed with
`--run.resume last`, ends with the metrics of the same run uninterrupted. (Blackjack, whose
experience lives outside the weights, has its own kill -9 test in tests/blackjack.)"""

import pytest

from common import registry
from tests.common.faults import SimulatedCrash, with_fault
from tests.common.test_common_exam import TINY


@pytest.mark.parametrize("name", ["speech", "handwriting", "music"])
def test_crashed_run_resumes_to_the_same_metrics(name, isolated, monkeypatch):
    assignment = registry.get(name)
    args = [*TINY[name], "--trainer.max_epochs", "2", "--trainer.enable_progress_bar", "false"]
    if name == "music":
        from tests.music.conftest import jsb_pickle

        args += ["--data.source", "jsb", "--data.path", str(jsb_pickle(isolated / "jsb.pickle"))]
    full = assignment.run_train([*args, "--run.name", "full"]).summary
    steps_per_epoch = full["global_step"] // 2
    with monkeypatch.context() as patch:
        with_fault(patch, "crash", steps_per_epoch + 1)
        with pytest.raises(SimulatedCrash):
            assignment.run_train([*args, "--run.name", "cut"])
    monkeypatch.delenv("MAL2_RUN_NAME", raising=False)
    resumed = assignment.run_train([*args, "--run.name", "cut", "--run.resume", "last"]).summary
    assert resumed["global_step"] == full["global_step"]
    assert resumed["final_train_loss"] == full["final_train_loss"]
    assert resumed["final_val_loss"] == full["final_val_loss"]
    assert resumed["best_score"] == full["best_score"]
