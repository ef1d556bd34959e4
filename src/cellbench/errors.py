"""The exceptions a user's input or environment can cause, and how the CLI prints them.

Tasks and io raise `InputError` with a one-line message naming the file and the column or row;
the CLI turns it into `Error: <message>` and a non-zero exit, with no traceback. An `OSError` (a
read-only, full or missing folder, a file that cannot be read) gets the same treatment through
`os_error_line`: the path and the system's reason, on one line.
"""

from __future__ import annotations


class InputError(ValueError):
    """Bad input the user can fix: one line, naming the file and the column/row."""


def os_error_line(exc: OSError) -> str:
    """'PATH: reason' (both paths of a rename), or the error's first line when it names no path."""
    reason = exc.strerror or (str(exc).splitlines() or [type(exc).__name__])[0]
    paths = [str(p) for p in (exc.filename, exc.filename2) if p is not None]
    return f"{' -> '.join(paths)}: {reason}" if paths else reason
