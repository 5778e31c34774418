"""How an ``xrm`` command fails: one line on stderr and an exit status, never a traceback."""

from __future__ import annotations

EXIT_ERROR = 1
EXIT_USAGE = 2


class CommandError(Exception):
    """A one-line failure of a command, shown as ``xrm: error: <message>``."""

    def __init__(self, message: str, exit_code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.exit_code = exit_code
