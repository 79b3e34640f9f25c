"""Benchmark of the blackjack assignment against issue 6's targets (2-core CPU).

    flock /tmp/mal2-cpu.lock .venv/bin/python benchmarks/blackjack.py
    .venv/bin/python benchmarks/blackjack.py --ckpt runs/blackjack/<run>/checkpoints/best.ckpt

Trains the default DQN (`python -m blackjack.train`) and the tabular baselines, then prints a
table of every agent's exact expected return (dynamic programming, no sampling noise), its gap
to the optimum and its training time, and checks the targets: default training <= 2 minutes,
greedy policy within 0.003 of the optimum. Exits 1 when a target is missed. Writes
learning_curves_vs_episodes.png and strategy.png into the output folder; the DQN's run goes to
$MAL2_RUNS/blackjack (default ./runs/blackjack).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common.errors import command  # noqa: E402

TRAIN_LIMIT_S = 120.0
GAP_LIMIT = 0.003


def train_dqn() -> dict:
    from blackjack import train

    name = f"bench-{time.strftime('%Y%m%d-%H%M%S')}"
    start = time.perf_counter()
    cli = train.main(["--run.name", name, "--trainer.enable_progress_bar", "false"])
    return {"wall_s": time.perf_counter() - start, "summary": cli.summary}


def dqn_figures(ckpt: Path) -> dict:
    """Exact returns of the best and last checkpoints of a run, and its learning curve."""
    from blackjack import rules
    from common.checkpoints import load_trained
    from common.runs import read_metrics

    out = {}
    for which in ("best", "last"):
        agent = load_trained("blackjack", ckpt.parent / f"{which}.ckpt").module
        out[which] = rules.evaluate(agent.greedy_policy(), agent.rules).expected_return
        out[f"{which}_policy"] = agent.greedy_policy()
    epochs = read_metrics(ckpt.parent.parent / "metrics.csv")
    points = [(e["train/episodes"], e["val/return"]) for e in epochs if "train/episodes" in e]
    out["curve"] = ([p[0] for p in points], [p[1] for p in points])
    out["episodes"] = int(points[-1][0]) if points else None
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ckpt", type=Path, help="score this run's checkpoints; skip training")
    parser.add_argument("--episodes", type=int, default=100_000, help="tabular baselines' hands")
    parser.add_argument("--out", type=Path, help="output folder (default: a temporary folder)")
    args = parser.parse_args(argv)

    from benchmarks import blackjack_baselines as baselines
    from benchmarks.verdict import Check, check, print_machine, verdict
    from blackjack import rules
    from blackjack.plots import plot_learning_curve, plot_strategy

    out = args.out or Path(tempfile.mkdtemp(prefix="blackjack-bench-"))
    out.mkdir(parents=True, exist_ok=True)
    print_machine()
    r = rules.Rules()  # Gymnasium Blackjack-v1 defaults (sab=True)
    start = time.perf_counter()
    best = rules.optimal(r)
    dp_ms = 1000 * (time.perf_counter() - start)
    optimum = best.expected_return
    print(f"optimal expected return (DP, {dp_ms:.0f} ms): {optimum:+.5f} per hand", flush=True)

    if args.ckpt:
        ckpt, train_s, summary = args.ckpt, None, None
        summary_path = ckpt.parent.parent / "summary.json"
        if summary_path.is_file():
            summary = json.loads(summary_path.read_text())
            train_s = summary["wall_time_s"]
    else:
        result = train_dqn()
        summary, train_s = result["summary"], result["wall_s"]
        ckpt = Path(summary["best_checkpoint"])
        print(f"default DQN training: {train_s:.1f} s in-process (fit {summary['wall_time_s']} s)")
    dqn = dqn_figures(ckpt)

    rows = []  # (agent, episodes, train seconds, exact return)
    rows.append(("DQN, best checkpoint (val/return)", dqn["episodes"], train_s, dqn["best"]))
    rows.append(("DQN, last checkpoint", dqn["episodes"], train_s, dqn["last"]))
    trained = [
        baselines.q_learning(args.episodes, r=r, seed=0, curve_points=20),
        baselines.monte_carlo_control(args.episodes, r=r, seed=0, curve_points=20),
    ]
    for t in trained:
        rows.append((t.name, t.episodes, t.seconds, rules.evaluate(t.policy, r).expected_return))
    for name, policy in (
        ("basic strategy chart", rules.basic_strategy()),
        ("random", rules.random_policy()),
    ):
        rows.append((name, None, None, rules.evaluate(policy, r).expected_return))
    rows.append(("optimal (DP)", None, dp_ms / 1000, optimum))

    print(f"\n{'agent':<36}{'episodes':>10}{'train s':>10}{'exact return':>15}{'gap':>10}")
    for name, episodes, seconds, value in rows:
        ep = f"{episodes:,}" if episodes else "-"
        sec = f"{seconds:.1f}" if seconds is not None else "-"
        print(f"{name:<36}{ep:>10}{sec:>10}{value:>+15.5f}{optimum - value:>10.5f}")

    curves = {"DQN": dqn["curve"]}
    curves.update({t.name: tuple(map(list, zip(*t.curve))) for t in trained})
    plot_learning_curve(curves, optimum, out / "learning_curves_vs_episodes.png")
    differ = plot_strategy(dqn["best_policy"], best.policy, out / "strategy.png", title="DQN")

    checks = []
    if train_s is not None:
        checks.append(check("dqn_train_wall_s", train_s, TRAIN_LIMIT_S, "max", unit="s"))
    checks.append(check("dqn_gap_best", optimum - dqn["best"], GAP_LIMIT, "max"))
    checks.append(Check("dqn_gap_last", f"{optimum - dqn['last']:.4g}"))
    checks.append(Check("dqn_cells_differing", f"{differ}"))
    print(f"\n(checkpoint {ckpt}; charts in {out})")
    return verdict(checks, "blackjack: issue 6's targets")


if __name__ == "__main__":
    command(main)
