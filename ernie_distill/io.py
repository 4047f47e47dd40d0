"""Atomic writes: a crash mid-save never leaves a half-written checkpoint under the final name."""
import json
import os
import shutil
import tempfile


def write_json(path, obj):
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=2)
    os.replace(tmp, path)


def read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def save_dir_atomically(final_dir, write_into):
    """Call write_into(tmp_dir) in a sibling temp dir, then swap it in for final_dir."""
    parent = os.path.dirname(os.path.abspath(final_dir))
    os.makedirs(parent, exist_ok=True)
    tmp_dir = tempfile.mkdtemp(prefix=f".{os.path.basename(final_dir)}.", dir=parent)
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
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise
