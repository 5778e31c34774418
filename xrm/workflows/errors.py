"""How a sandboxed run can end badly, in words a user may read.

Two outcomes: the rule said no (``reject(message)``: :class:`RuleRejected`,
``RULE_REJECTED`` in CONTRACT §4), or the run failed (:class:`SandboxError`:
the code raised, broke a limit, or its worker died). Both carry the log lines
the run wrote before it ended, so a failed run is recorded with its log.
Messages are built from the rule's own code and the sandbox's limits, never
from host internals, so they are safe to show.
"""

from __future__ import annotations

from collections.abc import Iterable

from xrm.errors import XrmError

# Why a run failed (SandboxError.reason).
REASONS = (
    "compile",  # the code does not compile (a definition check missed it, or it was never saved)
    "error",  # the code raised an exception
    "cpu",  # the CPU-time limit
    "wall",  # the wall-clock limit
    "memory",  # the memory limit
    "result",  # the result is not plain JSON, or too large
    "input",  # the record or another input is too large to send
    "crashed",  # the worker died (killed from outside, or crashed)
    "protocol",  # the worker sent something it never should
    "busy",  # no worker became free in time
    "stopped",  # the sandbox is not running
)


class RuleRejected(XrmError):
    """A rule refused the change with ``reject(message)``; the message is the rule author's."""

    code = "RULE_REJECTED"

    def __init__(self, message: str, *, log: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.log = tuple(log)


class SandboxError(XrmError):
    """A sandboxed run failed; ``reason`` is one of :data:`REASONS`, ``message`` is public."""

    code = "RULE_FAILED"

    def __init__(self, message: str, *, reason: str, log: Iterable[str] = ()) -> None:
        super().__init__(message, reason=reason)
        self.reason = reason
        self.log = tuple(log)


class ChainFailed(SandboxError):
    """A rule run by a write failed or rules fired rules too deep; re-raised unchanged by every
    rule further up the chain, so the user reads the first failure once, not wrapped 8 times."""


class DepthExceeded(ChainFailed):
    """Rules fired rules deeper than the limit: fatal to every run up the chain, even one whose
    script caught the error of the write that went too deep (a loop must end)."""
