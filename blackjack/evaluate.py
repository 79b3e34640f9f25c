"""Evaluate a trained agent (or a reference policy) on Blackjack-v1; prints the JSON report
(assignment, checkpoint, data, metrics, files) and writes it to <out>/evaluation.json.

    python -m blackjack.evaluate --ckpt runs/blackjack/<run>/checkpoints/best.ckpt
    python -m blackjack.evaluate                      # best checkpoint of the latest run
    python -m blackjack.evaluate --hands 200000 --export-policy policy.csv --out out/
    python -m blackjack.evaluate --policy basic       # a reference policy, no checkpoint

Exact figures come from dynamic programming (`blackjack.rules`); the Monte Carlo estimate
plays the Gymnasium environment and gives a 95% confidence interval and win/draw/loss rates.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from blackjack import rules
from blackjack.env import simulate, table_policy
from common import evaluation
from common.demo import command_parser, number, progress, writable
from common.errors import command, entry_point

REFERENCE = {"optimal": None, "basic": rules.basic_strategy, "random": rules.random_policy}


MAX_HANDS = 2_000_000  # about 5 minutes on one core; the exact return needs no sampling at all
PROGRESS_FROM = 200_000  # hands from which progress goes to stderr (about 30 s)


def evaluate_policy(
    policy, r: rules.Rules, hands: int, seed: int = 0
) -> dict[str, float | dict[str, float]]:
    """Exact and Monte Carlo figures of a (32, 11, 2) policy table."""
    report = progress(hands, "hands") if hands >= PROGRESS_FROM else None
    mc = simulate(table_policy(policy, seed), hands, r, seed=seed, progress=report)
    return {**rules.against_optimal(policy, r), "monte_carlo": mc}


@entry_point
def main(argv: list[str] | None = None) -> dict:
    parser = command_parser("blackjack.evaluate", __doc__)
    evaluation.add_arguments(
        parser,
        data_dir=None,  # no data set: the agent plays Gymnasium's Blackjack-v1
        splits=None,
        batch_size=None,
        out="the run folder's evaluation/; strategy.png only where --out is given",
    )
    parser.add_argument("--charts", dest="out", type=Path, help=argparse.SUPPRESS)  # old name
    parser.add_argument(
        "--policy", choices=sorted(REFERENCE), help="evaluate a reference policy instead"
    )
    parser.add_argument(
        "--hands", type=int, default=100_000, help=f"Monte Carlo hands (2 to {MAX_HANDS:,})"
    )
    parser.add_argument(  # numpy's generator refuses a negative seed (with a traceback)
        "--seed", type=number(0, integer=True), default=0, help="seed of the Monte Carlo hands"
    )
    parser.add_argument("--export-policy", metavar="CSV", help="write the greedy policy as CSV")
    parser.add_argument("--sab", type=int, choices=(0, 1), help="rules for --policy (default 1)")
    parser.add_argument(
        "--natural", type=int, choices=(0, 1), help="rules for --policy (default 0)"
    )
    args = parser.parse_args(argv)
    if not 2 <= args.hands <= MAX_HANDS:
        parser.error(
            f"--hands must be 2 to {MAX_HANDS:,} (got {args.hands:,}); 1,000,000 hands take "
            "1.5 to 2.5 minutes, and the exact return printed beside needs no hands at all"
        )
    if args.ckpt and args.policy:
        parser.error("give either --ckpt or --policy, not both")
    if args.out:  # checked before the hands are played: a file where a folder goes is an error
        args.out = evaluation.out_dir(args.out, None)
    if args.export_policy:
        writable(args.export_policy, "policy CSV", flag="--export-policy")

    if args.policy:
        r = rules.Rules(sab=bool(1 if args.sab is None else args.sab), natural=bool(args.natural))
        make = REFERENCE[args.policy]
        policy = rules.optimal(r).policy if make is None else make()
        checkpoint = None
    else:
        if args.sab is not None or args.natural is not None:
            parser.error("--sab/--natural apply to --policy; a checkpoint carries its own rules")
        from common.checkpoints import load_trained

        trained = load_trained("blackjack", args.ckpt)
        r, policy = trained.module.rules, trained.module.greedy_policy()
        checkpoint = trained.path

    data = {"env": "Blackjack-v1", "rules": {"sab": r.sab, "natural": r.natural}}
    if args.policy:
        data["policy"] = args.policy
    metrics = evaluate_policy(policy, r, args.hands, args.seed)
    files = {}
    if args.export_policy:
        from blackjack.plots import write_policy_csv

        metrics["policy_rows"] = write_policy_csv(policy, Path(args.export_policy))
        files["policy_csv"] = args.export_policy
    if args.out:
        from blackjack.plots import plot_strategy

        chart = Path(args.out) / "strategy.png"
        plot_strategy(policy, rules.optimal(r).policy, chart, title=args.policy or "learned")
        files["strategy_chart"] = str(chart)
    out = args.out or (evaluation.out_dir(None, checkpoint) if checkpoint else None)
    return evaluation.report("blackjack", checkpoint, data, metrics, files, out)


if __name__ == "__main__":
    command(main)
