"""Atomic directory writes and what a kill leaves behind."""
import json
import os

import pytest

from ernie_distill.atomic import _replace_contents, recover_dir, save_dir_atomically


def write_marker(text):
    def write(directory):
        with open(os.path.join(directory, "marker"), "w") as f:
            f.write(text)

    return write


def read_marker(directory):
    with open(os.path.join(directory, "marker")) as f:
        return f.read()


def test_replaces_the_directory_and_leaves_nothing_beside_it(tmp_path):
    target = tmp_path / "checkpoint"
    save_dir_atomically(str(target), write_marker("one"))
    save_dir_atomically(str(target), write_marker("two"))
    assert read_marker(target) == "two" and os.listdir(tmp_path) == ["checkpoint"]


def test_a_kill_between_the_two_renames_is_recovered_from_the_old_copy(tmp_path):
    target = tmp_path / "checkpoint"
    save_dir_atomically(str(target), write_marker("one"))
    os.replace(target, tmp_path / ".checkpoint.old.abcd1234")  # the first rename happened, the second did not
    (tmp_path / ".checkpoint.k2j3h4g5").mkdir()  # and a half-written new version
    recover_dir(str(target))
    assert read_marker(target) == "one" and os.listdir(tmp_path) == ["checkpoint"]


def test_temporaries_of_a_killed_write_are_removed_by_the_next_save(tmp_path):
    (tmp_path / ".best_model.x8y7z6w5").mkdir()
    (tmp_path / "unrelated").mkdir()
    save_dir_atomically(str(tmp_path / "best_model"), write_marker("new"))
    assert sorted(os.listdir(tmp_path)) == ["best_model", "unrelated"]


def test_only_its_own_leftovers_are_removed(tmp_path):
    for name in (".best_model.bak", ".best_model.old.backup", ".best_model.v2.abcd1234", "best_model.x"):
        (tmp_path / name).mkdir()
    save_dir_atomically(str(tmp_path / "best_model"), write_marker("new"))
    assert sorted(os.listdir(tmp_path)) == [".best_model.bak", ".best_model.old.backup", ".best_model.v2.abcd1234",
                                            "best_model", "best_model.x"]


def test_a_full_disk_or_a_read_only_location_is_one_error_naming_the_output_and_nothing_is_left(tmp_path,
                                                                                                 monkeypatch):
    import errno

    import numpy as np

    from ernie_distill.atomic import write_file_atomically, write_json
    from ernie_distill.errors import WriteError

    def full(_):
        raise OSError(errno.ENOSPC, "No space left on device")  # as a write() on a full disk raises: no file name

    with pytest.raises(WriteError, match=f"cannot write {tmp_path / 'model'}: No space left on device; free space"):
        save_dir_atomically(str(tmp_path / "model"), lambda d: write_json(os.path.join(d, "info.json"), {"a": 1}) or
                            full(d))
    with pytest.raises(WriteError, match=f"cannot write {tmp_path / 'logits.npy'}: No space left"):
        write_file_atomically(str(tmp_path / "logits.npy"), lambda f: np.save(f, np.zeros(3)) or full(f), mode="wb")
    assert os.listdir(tmp_path) == []  # nothing half-written
    monkeypatch.setattr("tempfile.mkdtemp", lambda **_: (_ for _ in ()).throw(
        OSError(errno.EROFS, "Read-only file system", str(tmp_path / ".model.x"))))
    with pytest.raises(WriteError, match=f"cannot write {tmp_path / 'model'}: Read-only file system; it is read-only"):
        save_dir_atomically(str(tmp_path / "model"), lambda d: None)
    with pytest.raises(OSError, match="Is a directory"):  # any other error is not a disk or permission problem
        write_file_atomically(str(tmp_path), lambda f: None)


def test_scripts_turn_an_unnamed_write_error_into_one_line(capsys):
    import errno


    from ernie_distill.cli import run_cli

    def read_only():
        raise OSError(errno.EACCES, "Permission denied", "/srv/out")

    assert run_cli(read_only) == 2
    assert capsys.readouterr().err == ("error: cannot access /srv/out: Permission denied; it is read-only or not "
                                       "accessible by this user: choose a location this user may access (e.g. under "
                                       "tmp/)\n")

    def broken():
        raise OSError(errno.EIO, "Input/output error")

    with pytest.raises(OSError, match="Input/output error"):
        run_cli(broken)


def write_export(files, manifest="manifest.json"):
    """A directory of `files` (name -> text) and a manifest listing them, written last."""
    def write(directory):
        for name, text in files.items():
            with open(os.path.join(directory, name), "w") as f:
                f.write(text)
        with open(os.path.join(directory, manifest), "w") as f:
            json.dump(files, f)

    return write


def read_export(directory):
    """The files as the manifest lists them; None while there is no manifest; a mismatch fails the test."""
    if not os.path.isfile(os.path.join(directory, "manifest.json")):
        return None
    with open(os.path.join(directory, "manifest.json")) as f:
        listed = json.load(f)
    for name, text in listed.items():
        with open(os.path.join(directory, name)) as f:
            assert f.read() == text, f"the manifest describes another {name}"
    return listed


def test_a_mount_point_gets_its_contents_replaced_the_manifest_last_and_is_never_renamed(mount_point, monkeypatch):
    (mount_point / "lost+found").mkdir()  # what an ext4 volume holds
    first, second = {"weights": "1", "vocab": "a", "stale": "x"}, {"weights": "2", "vocab": "b", "extra": "y"}
    save_dir_atomically(str(mount_point), write_export(first), last=("manifest.json",))
    assert read_export(mount_point) == first
    seen, replace = [], os.replace

    def reader_after_each_rename(src, dst):  # a reader looking between any two steps of the replacement
        replace(src, dst)
        seen.append(read_export(mount_point))

    monkeypatch.setattr("os.replace", reader_after_each_rename)
    save_dir_atomically(str(mount_point), write_export(second), last=("manifest.json",))
    assert seen[-1] == second and set(map(str, seen)) <= {str(first), "None", str(second)}
    assert sorted(os.listdir(mount_point)) == ["extra", "lost+found", "manifest.json", "vocab", "weights"]
    assert os.listdir(mount_point.parent) == ["volume"]  # nothing written beside the volume either


def test_replacing_contents_swaps_a_file_for_a_directory_of_the_same_name_and_back(tmp_path):
    """(What a mount point's replacement does, on any directory.) A rename cannot put a directory over a file, nor a
    file over a directory: the old entry is set aside first."""
    final = tmp_path / "final"
    final.mkdir()
    (final / "tokenizer").write_text("a file")
    for version, make in (("1", lambda entry: (entry.mkdir(), (entry / "vocab.txt").write_text("a directory"))),
                          ("2", lambda entry: entry.write_text("a file again"))):
        written = tmp_path / f"version{version}"
        written.mkdir()
        make(written / "tokenizer")
        _replace_contents(str(final), str(written))
        assert os.listdir(final) == ["tokenizer"]
    assert (final / "tokenizer").read_text() == "a file again"


def test_a_failed_write_into_a_mount_point_leaves_the_old_version_whole(mount_point):
    save_dir_atomically(str(mount_point), write_export({"weights": "1"}), last=("manifest.json",))

    def fail(directory):
        write_export({"weights": "2"})(directory)
        raise RuntimeError("parity check failed")

    with pytest.raises(RuntimeError, match="parity"):
        save_dir_atomically(str(mount_point), fail, last=("manifest.json",))
    assert read_export(mount_point) == {"weights": "1"} and sorted(os.listdir(mount_point)) == ["manifest.json",
                                                                                                 "weights"]


@pytest.mark.parametrize("kill_at, recovered", [
    ("setting aside", {"a": "1", "b": "1"}),  # before the new version was renamed .new: undone
    ("moving in", {"a": "2", "c": "2"}),  # after: finished
])
def test_a_kill_while_replacing_a_mount_points_contents_is_undone_or_finished_by_recovery(mount_point, monkeypatch,
                                                                                          kill_at, recovered):
    save_dir_atomically(str(mount_point), write_export({"a": "1", "b": "1"}), last=("manifest.json",))
    calls, replace = [], os.replace

    def killed(src, dst):
        into = os.path.dirname(dst)
        if (kill_at == "moving in" and into == str(mount_point) and not os.path.basename(dst).startswith(".") or
                kill_at == "setting aside" and ".volume.old." in into):
            calls.append(dst)
            if len(calls) == 2:  # (setting aside: the manifest went, b not yet; moving in: a came, c not yet)
                raise KeyboardInterrupt
        replace(src, dst)

    monkeypatch.setattr("os.replace", killed)
    with pytest.raises(KeyboardInterrupt):
        save_dir_atomically(str(mount_point), write_export({"a": "2", "c": "2"}), last=("manifest.json",))
    monkeypatch.setattr("os.replace", replace)
    assert read_export(mount_point) is None  # the old manifest went first: no reader takes a mix for an export
    recover_dir(str(mount_point), last=("manifest.json",))
    assert read_export(mount_point) == recovered
    assert sorted(os.listdir(mount_point)) == sorted([*recovered, "manifest.json"])
