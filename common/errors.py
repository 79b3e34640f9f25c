"""One error type for what the person running a command got wrong, reported in one place.

Code anywhere raises `UserError` (or a subclass) saying what was wrong and what to do; `entry_point`
on every `main` turns it into `error: <message>` on stderr and exit code 2, never a traceback. So
does a place the command cannot write (a full disk, a read-only folder: `storage_error`).
"""

from __future__ import annotations

import errno
import functools
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

EXIT_CODE = 2


class UserError(Exception):
    """Bad input: a value, a file or a request that cannot be served; the message says why."""


class DataError(UserError, ValueError):
    """A data set, recording or input file that is missing, malformed or unsafe to load."""


class ConfigError(UserError, ValueError):
    """An option's value (`--model.*`, `--data.*`) that the code cannot use: a training command
    refuses it with `error: ...` before it starts."""


class UsageExit(SystemExit):
    """SystemExit with exit code 2 whose text is the message it printed (`error: ...`)."""

    def __init__(self, message: str) -> None:
        super().__init__(EXIT_CODE)
        self.message = message

    def __str__(self) -> str:
        return self.message


_ELSEWHERE = "MAL2_RUNS for runs, MAL2_DATA for data and caches, --out for outputs"


def storage_error(err: OSError) -> UserError | None:
    """A full disk, a read-only folder, a missing permission or a file where a folder should be, as
    a UserError naming the file and what to do; None for other OSErrors (bugs keep their
    traceback)."""
    where = " -> ".join(str(f) for f in (err.filename, err.filename2) if f is not None)
    what = f"{err.strerror or err}: {where or 'a file'}"
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return UserError(f"{what}; free some space, or write elsewhere ({_ELSEWHERE})")
    if err.errno in (errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTDIR):
        return UserError(f"{what}; use a place you may write (and read): {_ELSEWHERE}")
    return None


@contextmanager
def naming(path: Path | str) -> Iterator[None]:
    """An OSError in the block that names no file is raised again naming `path`: a write or a
    close on a full disk names none, and `storage_error` would say 'a file'."""
    try:
        yield
    except OSError as err:
        if err.filename is not None:
            raise
        raise OSError(err.errno, err.strerror, str(path)) from None


def fail(err: UserError | str) -> NoReturn:
    """Print `error: <message>` on stderr and exit with code 2."""
    message = f"error: {err}"
    print(message, file=sys.stderr, flush=True)
    raise UsageExit(message) from None


def entry_point(main: F | None = None, *, also: tuple[type[Exception], ...] = ()) -> Any:
    """Decorate a command's `main`: a `UserError` (or one of `also`) raised inside becomes
    `error: <message>` on stderr and exit code 2. Use as `@entry_point` or
    `@entry_point(also=(ValueError,))` where every ValueError of that command is the user's."""

    def wrap(func: F) -> F:
        @functools.wraps(func)
        def run(*args: Any, **kwargs: Any) -> Any:
            try:
                return func(*args, **kwargs)
            except (UserError, *also) as err:
                fail(err)
            except OSError as err:
                problem = storage_error(err)
                if problem is None:
                    raise
                fail(problem)

        return run  # type: ignore[return-value]

    return wrap(main) if main is not None else wrap


def command(main: Callable[[list[str]], Any]) -> NoReturn:
    """Run an entry point's `main` as `python -m <module>` does, on `sys.argv[1:]`, and exit.

    `main` returns what it made to Python callers (the run's CLI, the report, the paths written);
    the command's exit status is an int `main` returns as its own verdict (e.g. 1 when one of
    several trainings failed), else 0; a user error exits with 2 (`entry_point`).
    """
    raise SystemExit(exit_code(main(sys.argv[1:])))


def exit_code(result: Any) -> int:
    """A `main`'s exit status: the int it returned as its verdict, else 0."""
    return result if isinstance(result, int) else 0
