"""Atomic writes: a file or a folder appears whole under its name, or not at all.

A file is written to `.<name>.<pid>.tmp` beside its target, flushed to disk (fsync), renamed onto
the target, and then the folder is flushed too, so that after a crash or a power cut the target is
either the old file or the complete new one. A folder (the report) is written the same way into
`.<name>.<pid>.tmp/` and replaces the previous one: the old folder is renamed aside to
`.<name>.<pid>.old`, the new one renamed in, the old one deleted (POSIX has no atomic swap of two
folders, so for an instant neither is there; a failed swap puts the old one back).

A process killed mid-write (kill -9, out of memory, a lost node) cannot clean up; the next write
of the same target deletes the temporaries of processes that are no longer running (and of this
process, when it is not using them). Errors name the target, not the temporary name: the CLI
prints them as one line (cellbench.errors.os_error_line).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from pathlib import Path

# temporaries this process is writing now (never "stale", whatever their pid says)
_ACTIVE: set[Path] = set()
# fsync of a folder is not supported everywhere; that is no reason to fail a write
_NO_DIR_FSYNC = {errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EBADF, errno.EISDIR}


def temp_name(target: Path, kind: str = "tmp") -> Path:
    """`.<name>.<pid>.<kind>` beside `target` (kind: tmp for what is being written, old for what it replaces)."""
    return target.with_name(f".{target.name}.{os.getpid()}.{kind}")


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def remove_stale(target: Path) -> None:
    """Delete `target`'s temporaries left by processes that no longer run (or by this one, unused)."""
    prefix = f".{target.name}."
    try:
        entries = os.listdir(target.parent)
    except FileNotFoundError:
        return
    for entry in entries:
        pid, _, kind = entry[len(prefix):].partition(".")
        if not entry.startswith(prefix) or not pid.isdigit() or kind not in ("tmp", "old"):
            continue
        path = target.parent / entry
        if path in _ACTIVE or (int(pid) != os.getpid() and _running(int(pid))):
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


class WriteError(OSError):
    """A write that failed: strerror is 'cannot write (<reason>)', filename the target (not a temporary)."""

    def __init__(self, code: int | None, reason: str, target: Path):
        super().__init__(code, f"cannot write ({reason})", str(target))
        self.reason = reason


def _named(exc: OSError, target: Path) -> WriteError:
    """The same error, naming the target the user gave instead of a temporary or no path at all."""
    if isinstance(exc, WriteError):  # a file of a folder being written: named by its final path
        inner, tmp = Path(exc.filename), temp_name(target)
        return WriteError(exc.errno, exc.reason, target / inner.relative_to(tmp) if inner.is_relative_to(tmp) else target)
    reason = exc.strerror or (str(exc).splitlines() or [type(exc).__name__])[0]
    return WriteError(exc.errno, reason, target)


def _fsync(path: Path, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    except OSError as exc:
        if not (directory and exc.errno in _NO_DIR_FSYNC):
            raise
    finally:
        os.close(fd)


def _fsync_tree(folder: Path) -> None:
    for root, _, files in os.walk(folder):
        for name in files:
            _fsync(Path(root) / name)
        _fsync(Path(root), directory=True)


@contextlib.contextmanager
def _staged(target: str | os.PathLike, make, commit, discard):
    """Create the temporary with `make`, yield it, `commit` it onto the target; `discard` it on failure."""
    target = Path(target)
    if target.name in ("", ".", ".."):  # "." or "x/..": name the folder itself
        target = target.resolve()
    tmp = temp_name(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)  # documented: output folders are created
        remove_stale(target)
        make(tmp)
    except OSError as exc:
        raise _named(exc, target) from None
    _ACTIVE.add(tmp)
    try:
        yield tmp
        commit(tmp, target)
    except BaseException as exc:
        discard(tmp)
        if isinstance(exc, OSError):
            raise _named(exc, target) from None
        raise
    finally:
        _ACTIVE.discard(tmp)


def _make_file(tmp: Path) -> None:
    # O_EXCL: never write through a file or link someone else put there; 0o666 less the umask, as
    # open() gives, so results are readable by the other users of a shared work directory
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))


def _commit_file(tmp: Path, target: Path) -> None:
    _fsync(tmp)
    os.replace(tmp, target)
    _fsync(target.parent, directory=True)


def _discard_file(tmp: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)


def _commit_dir(tmp: Path, target: Path) -> None:
    _fsync_tree(tmp)
    old = None
    if target.exists() or target.is_symlink():
        old = temp_name(target, "old")
        os.replace(target, old)
    try:
        os.replace(tmp, target)
    except BaseException:
        if old is not None:
            os.replace(old, target)  # put the previous one back
        raise
    _fsync(target.parent, directory=True)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _discard_dir(tmp: Path) -> None:
    shutil.rmtree(tmp, ignore_errors=True)


def atomic_path(target: str | os.PathLike):
    """Context manager: yield a temporary file path beside `target`; on success it becomes `target`.

    On any exception the temporary is removed and the target is left as it was.
    """
    return _staged(target, _make_file, _commit_file, _discard_file)


def atomic_dir(target: str | os.PathLike):
    """Context manager: yield an empty temporary folder beside `target`; on success it replaces `target` whole."""
    return _staged(target, lambda tmp: tmp.mkdir(), _commit_dir, _discard_dir)


def write_text(target: str | os.PathLike, text: str) -> None:
    with atomic_path(target) as tmp:
        Path(tmp).write_text(text)
