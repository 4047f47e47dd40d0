"""numba's njit with its machine code cached on disk where a cache can be written, and compiled in memory where none
can (a read-only container: code tree, __pycache__, NUMBA_CACHE_DIR and the user cache all unwritable), with one
warning instead of numba's "cannot cache function ...: no locator available" crash at import."""
from numba import njit

from .log import logger

_warned = []


def njit_cached(**options):
    """@njit(cache=True, **options), or @njit(**options) when numba finds nowhere to keep its cache."""

    def decorate(function):
        try:
            return njit(cache=True, **options)(function)
        except RuntimeError as err:
            if "cannot cache" not in str(err):
                raise
            if not _warned:
                _warned.append(True)
                logger.warning("numba can write no cache here (%s): compiling in memory, once per process (seconds); "
                               "set NUMBA_CACHE_DIR to a writable directory to keep the compiled code", err)
            return njit(**options)(function)

    return decorate
