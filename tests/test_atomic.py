"""Atomic directory writes and what a kill leaves behind."""
import os

from ernie_distill.atomic import recover_dir, save_dir_atomically


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
