"""Atomic writes: a crash mid-save never leaves a half-written file or directory under its final name.

A directory is written into a hidden sibling (`.NAME.XXXXXXXX`) and swapped in by two renames: the previous version
moves aside to `.NAME.old.XXXXXXXX`, the new one takes its place, the old one is deleted. A kill between the two
renames leaves only the `.old` copy: `recover_dir` puts it back. A kill while writing leaves a hidden temporary
directory (over a gigabyte for a base-size checkpoint): the next save or recovery removes it. A full disk or a
read-only location is a WriteError naming the file or directory (one `error:` line), with nothing half-written left.

A directory that is a mount point (a Docker or Kubernetes volume) cannot be renamed (EBUSY), and its parent may be
read-only: its new version is written inside it (`NAME/.NAME.XXXXXXXX`, renamed `NAME/.NAME.new.XXXXXXXX` once
complete) and its contents are replaced entry by entry, each an atomic rename, the `last` files (a manifest: what a
reader checks first) removed first and put in place last, so a reader sees the old version, no manifest, or the new
version, never a manifest beside files it does not describe. The old version stays whole until the new one is
complete; a kill during the replacement is finished by `recover_dir` (the new version was complete).
"""
import errno
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


LEFTOVER = r"\.{name}\.((?:old|new)\.)?[a-z0-9_]{{8}}"  # the names mkdtemp makes for our temporaries
KEPT = {"lost+found"}  # a filesystem's own directory at the root of a volume: never ours to remove


def _leftovers(directory, name):
    """{kind: paths} of the temporaries of `name` in directory: "" (a write, maybe incomplete), "old" (a previous
    version set aside), "new" (a complete new version not yet swapped in). Only names mkdtemp made for `name`."""
    found = {"": [], "old.": [], "new.": []}
    pattern = re.compile(LEFTOVER.format(name=re.escape(name)))
    for entry in os.listdir(directory) if os.path.isdir(directory) else []:
        match = pattern.fullmatch(entry)
        if match and os.path.isdir(os.path.join(directory, entry)):
            found[match.group(1) or ""].append(os.path.join(directory, entry))
    return found


def contents(final_dir):
    """The entries of final_dir but the temporaries of its writes and a volume's lost+found."""
    ours = {os.path.basename(path) for paths in _leftovers(final_dir, os.path.basename(final_dir)).values()
            for path in paths}
    return sorted(set(os.listdir(final_dir)) - ours - KEPT)


def _replace_contents(final_dir, written, last=()):
    """Replace final_dir's contents by those of the complete version `written` (copied inside final_dir first when it
    is on another filesystem), one atomic rename each: `last`, and what the new version lacks or cannot rename over (a
    directory, or a file the new version has a directory of the same name for), set aside into `.NAME.old.X`; the new version renamed `.NAME.new.X`; its entries moved in, `last`
    last; what was set aside deleted. recover_dir undoes a kill before the `.new` rename and finishes one after it."""
    prefix = f".{os.path.basename(final_dir)}."
    if os.path.dirname(written) != final_dir:
        staging = tempfile.mkdtemp(prefix=prefix, dir=final_dir)
        try:
            for entry in os.listdir(written):
                shutil.move(os.path.join(written, entry), os.path.join(staging, entry))
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        os.rmdir(written)
        written = staging
    new = os.listdir(written)
    aside = [entry for entry in last if os.path.lexists(os.path.join(final_dir, entry))]
    renamed_over = [entry for entry in new if not os.path.isdir(os.path.join(written, entry))]  # (files onto files)
    aside += [entry for entry in contents(final_dir) if entry not in aside and
              (entry not in renamed_over or os.path.isdir(os.path.join(final_dir, entry)))]
    trash = tempfile.mkdtemp(prefix=prefix + "old.", dir=final_dir)
    for entry in aside:
        os.replace(os.path.join(final_dir, entry), os.path.join(trash, entry))
    ready = tempfile.mkdtemp(prefix=prefix + "new.", dir=final_dir)
    os.rmdir(ready)
    os.replace(written, ready)
    _move_in(final_dir, ready, last)


def _move_in(final_dir, ready, last):
    """Move the entries of a complete new version into final_dir, `last` last; delete what was set aside; then it."""
    entries = os.listdir(ready)
    for entry in sorted(entries, key=lambda entry: (entry in last, entry)):
        os.replace(os.path.join(ready, entry), os.path.join(final_dir, entry))
    for trash in _leftovers(final_dir, os.path.basename(final_dir))["old."]:
        shutil.rmtree(trash, ignore_errors=True)
    os.rmdir(ready)  # last: while it is there, what was set aside is never put back


def recover_dir(final_dir, last=()):
    """Undo what a kill left behind: restore final_dir from its `.old` copy if it is missing; finish an in-place
    replacement whose new version was complete, or put back what one set aside before; drop temporaries."""
    parent, name = os.path.split(os.path.abspath(final_dir))
    beside = _leftovers(parent, name)
    for path in beside[""] + beside["new."]:
        shutil.rmtree(path, ignore_errors=True)
    old = sorted(beside["old."], key=os.path.getmtime)
    if old and not os.path.exists(final_dir):
        os.replace(old.pop(), final_dir)
    for path in old:
        shutil.rmtree(path, ignore_errors=True)
    inside = _leftovers(final_dir, name)
    if inside["new."]:
        _move_in(final_dir, inside["new."][0], last)
    for trash in [] if inside["new."] else inside["old."]:
        for entry in sorted(os.listdir(trash), key=lambda entry: (entry in last, entry)):
            if not os.path.lexists(os.path.join(final_dir, entry)):
                os.replace(os.path.join(trash, entry), os.path.join(final_dir, entry))
    for path in sum(_leftovers(final_dir, name).values(), []):
        shutil.rmtree(path, ignore_errors=True)


def save_dir_atomically(final_dir, write_into, last=()):
    """Call write_into(tmp_dir) in a temporary directory, then swap it in for final_dir: by renaming the directory, or
    when final_dir is a mount point (or its rename is refused as busy) by replacing its contents, `last` last."""
    final_dir = os.path.abspath(final_dir)
    recover_dir(final_dir, last)
    parent = os.path.dirname(final_dir)
    in_place = os.path.ismount(final_dir)
    try:
        os.makedirs(parent, exist_ok=True)
        tmp_dir = tempfile.mkdtemp(prefix=f".{os.path.basename(final_dir)}.", dir=final_dir if in_place else parent)
    except OSError as err:
        raise write_error(final_dir, err) or err from None
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_dir, 0o777 & ~umask)  # mkdtemp makes it private; the final directory should not be
    try:
        write_into(tmp_dir)
        old = None
        if not in_place and os.path.exists(final_dir):
            old = tempfile.mkdtemp(prefix=f".{os.path.basename(final_dir)}.old.", dir=parent)
            os.rmdir(old)
            try:
                os.replace(final_dir, old)
            except OSError as err:
                if err.errno != errno.EBUSY:  # busy: a mount point os.path.ismount misses (a bind mount of one disk)
                    raise
                in_place = True
        if in_place:
            _replace_contents(final_dir, tmp_dir, last)
        else:
            os.replace(tmp_dir, final_dir)
            if old:
                shutil.rmtree(old, ignore_errors=True)
    except BaseException as err:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise write_error(final_dir, err) or err from None
