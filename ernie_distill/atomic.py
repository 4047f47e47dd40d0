"""Atomic writes: a crash mid-save never leaves a half-written file or directory under its final name.

A directory is written into a hidden sibling (`.NAME.XXXXXXXX`) and swapped in by two renames: the previous version
moves aside to `.NAME.old.XXXXXXXX`, the new one takes its place, the old one is deleted. A kill between the two
renames leaves only the `.old` copy: `recover_dir` puts it back. A kill while writing leaves a hidden temporary
directory (over a gigabyte for a base-size checkpoint): the next save or recovery removes it. A full disk or a
read-only location is a WriteError naming the file or directory (one `error:` line), with nothing half-written left.
"""
import json
import os
import re
import shutil
import tempfile

from .errors import write_error


def write_file_atomically(path, write, mode="w"):
    """write(f) into a sibling temporary file, renamed to `path` once complete; removed when writing fails."""
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            write(f)
        os.replace(tmp, path)
    except BaseException as err:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise write_error(path, err) or err from None


def write_json(path, obj):
    write_file_atomically(path, lambda f: json.dump(obj, f, ensure_ascii=False, indent=2))


def read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _leftovers(final_dir):
    """(temporary dirs of interrupted writes, `.old` copies of interrupted swaps) beside final_dir: only names that
    mkdtemp made for this very directory (`.NAME.` or `.NAME.old.` and 8 random characters), nothing else."""
    parent, name = os.path.split(os.path.abspath(final_dir))
    pattern = re.compile(rf"\.{re.escape(name)}\.(old\.)?[a-z0-9_]{{8}}")
    ours = [entry for entry in os.listdir(parent) if pattern.fullmatch(entry)] if os.path.isdir(parent) else []
    paths = [os.path.join(parent, entry) for entry in ours if os.path.isdir(os.path.join(parent, entry))]
    old = [path for path in paths if os.path.basename(path).startswith(f".{name}.old.")]
    return [path for path in paths if path not in old], old


def recover_dir(final_dir):
    """Undo what a kill left behind: restore final_dir from its `.old` copy if it is missing; drop temporaries."""
    temporaries, old = _leftovers(final_dir)
    for path in temporaries:
        shutil.rmtree(path, ignore_errors=True)
    old.sort(key=os.path.getmtime)
    if old and not os.path.exists(final_dir):
        os.replace(old.pop(), final_dir)
    for path in old:
        shutil.rmtree(path, ignore_errors=True)


def save_dir_atomically(final_dir, write_into):
    """Call write_into(tmp_dir) in a sibling temp dir, then swap it in for final_dir."""
    recover_dir(final_dir)
    parent = os.path.dirname(os.path.abspath(final_dir))
    try:
        os.makedirs(parent, exist_ok=True)
        tmp_dir = tempfile.mkdtemp(prefix=f".{os.path.basename(final_dir)}.", dir=parent)
    except OSError as err:
        raise write_error(final_dir, err) or err from None
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_dir, 0o777 & ~umask)  # mkdtemp makes it private; the final directory should not be
    try:
        write_into(tmp_dir)
        old = None
        if os.path.exists(final_dir):
            old = tempfile.mkdtemp(prefix=f".{os.path.basename(final_dir)}.old.", dir=parent)
            os.rmdir(old)
            os.replace(final_dir, old)
        os.replace(tmp_dir, final_dir)
        if old:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException as err:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise write_error(final_dir, err) or err from None
