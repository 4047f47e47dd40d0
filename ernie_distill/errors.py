"""Errors that mean bad input (a file, a row, a flag), not a bug: scripts print them in one line, without a traceback."""
import errno
import os


class InputError(ValueError):
    """Bad input; the message names the file, line or flag and what to do."""


# what a full disk, a quota, a read-only filesystem or a directory of another user make writing raise
WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}


class WriteError(InputError):
    """An output that cannot be written: the message names it, the reason and what to do."""

    def __init__(self, path, reason):
        full = reason in (errno.ENOSPC, errno.EDQUOT)
        advice = ("free space there, or write elsewhere, then run the same command again" if full else
                  "it is read-only or not writable for this user: choose a writable location (e.g. under tmp/)")
        super().__init__(f"cannot write {path}: {os.strerror(reason)}; {advice}")
        self.path, self.reason = path, reason


def write_error(path, err):
    """The WriteError to raise instead of `err` (an OSError or a WriteError) from writing `path`, or None when `err`
    is not about the disk or the permissions."""
    if isinstance(err, WriteError):
        return WriteError(path, err.reason)
    if isinstance(err, OSError) and err.errno in WRITE_ERRNOS:
        return WriteError(path, err.errno)
    return None
