"""Errors that mean bad input (a file, a row, a flag), not a bug: scripts print them in one line, without a traceback."""
import errno
import os


class InputError(ValueError):
    """Bad input; the message names the file, line or flag and what to do."""


# what a full disk, a quota, a read-only filesystem or a directory of another user make writing raise
WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}


ABLE = {"write": "writable", "access": "accessible"}


class WriteError(InputError):
    """An output that cannot be written: the message names it, the reason and what to do."""

    def __init__(self, path, reason, verb="write"):
        full = reason in (errno.ENOSPC, errno.EDQUOT)
        advice = ("free space there, or write elsewhere, then run the same command again" if full else
                  f"it is read-only or not {ABLE[verb]} by this user: choose a location this user may {verb} (e.g. "
                  "under tmp/)")
        super().__init__(f"cannot {verb} {path}: {os.strerror(reason)}; {advice}")
        self.path, self.reason = path, reason


def write_error(path, err, verb="write"):
    """The WriteError to raise instead of `err` (an OSError or a WriteError) from writing (or, with verb "access",
    using) `path`, or None when `err` is not about the disk or the permissions."""
    if isinstance(err, WriteError):
        return WriteError(path, err.reason, verb)
    if isinstance(err, OSError) and err.errno in WRITE_ERRNOS:
        return WriteError(path, err.errno, verb)
    return None
