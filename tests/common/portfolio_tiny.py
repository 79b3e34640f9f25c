"""`python -m tests.common.portfolio_tiny ARGS`: the real `portfolio` command, in a process of its
own, with the tiny fixture assignment registered (for tests that send real signals)."""

import sys

from common import portfolio, registry
from tests.common import tiny

if __name__ == "__main__":
    real_get = registry.get
    registry.NAMES = ("tiny",)
    registry.get = lambda name: tiny.assignment() if name == "tiny" else real_get(name)
    sys.exit(portfolio.main(sys.argv[1:]))
