"""predict.py --engine ray on a local 2-CPU Ray cluster: Ray Data reads the input in byte ranges, the rows come back in
input order equal to predict.py's, and a worker killed mid-run costs a retry, never a lost or repeated row.
Skipped where Ray is not installed, except in CI (CI=true), which installs the [ray] extra."""
import json
import os

import pytest

from conftest import fixture_texts
from ernie_distill.commands import predict

if os.environ.get("CI") == "true":
    import ray  # noqa: F401  (CI installs the [ray] extra: a missing Ray fails here, never skips)
else:
    pytest.importorskip("ray")

from ernie_distill.deploy import ray_engine  # noqa: E402


@pytest.fixture(scope="module")
def cluster():
    ray_engine.start(num_cpus=2)
    yield
    ray_engine.stop()


@pytest.fixture
def corpus_file(tmp_path):
    path = tmp_path / "corpus.txt"
    lines = [text.encode("utf-8") for text in fixture_texts() * 3]
    lines[7], lines[300] = b"   ", b"\xff\xfe broken"  # lines predict.py skips too
    path.write_bytes(b"\xef\xbb\xbf" + b"\r\n".join(lines[:100]) + b"\r\n" + b"\n".join(lines[100:]) + b"\n")
    return path


def test_line_ranges_give_every_line_once_in_order(corpus_file):
    data = corpus_file.read_bytes()
    for range_bytes in (1, 97, 1000, len(data) - 1, len(data), 10 * len(data)):
        bounds = list(range(0, len(data), range_bytes)) + [len(data)]
        rows = [(text, offset) for start, end in zip(bounds, bounds[1:])
                for table in ray_engine.read_range(str(corpus_file), start, end, block_lines=50)
                for text, offset in zip(table["text"].to_pylist(), table["offset"].to_pylist())]
        assert len(rows) == 720 and rows[0][0] == fixture_texts()[0] and rows[1][0] == fixture_texts()[1]
        assert [offset for _, offset in rows] == sorted({offset for _, offset in rows}), range_bytes


def test_ray_rows_equal_predicts_in_input_order(cluster, exported_student, corpus_file, tmp_path, capsys,
                                                monkeypatch):
    local, on_ray = tmp_path / "local.jsonl", tmp_path / "ray.jsonl"
    assert predict.main(["--model_dir", exported_student, "--input_file", str(corpus_file), "--logits",
                         "--output_file", str(local)]) == 1  # (the two bad lines)
    skipped_locally = [line for line in capsys.readouterr().err.splitlines() if line.startswith("skipped")]
    monkeypatch.setattr(ray_engine, "RANGE_BYTES", 4096)  # several read tasks
    monkeypatch.setattr(predict, "PROGRESS_EVERY_S", 0.0)
    assert predict.main(["--model_dir", exported_student, "--input_file", str(corpus_file), "--logits",
                         "--output_file", str(on_ray), "--engine", "ray", "--num_workers", "2", "--cpu_threads",
                         "1"]) == 1
    err = capsys.readouterr().err
    assert local.read_text(encoding="utf-8") == on_ray.read_text(encoding="utf-8")
    assert len(skipped_locally) == 2 and len([line for line in err.splitlines() if line.startswith("skipped")]) == 2
    assert f"skipped {corpus_file} at byte " in err and "not UTF-8" in err
    assert "2 input(s) could not be predicted (see above); 718 predicted" in err
    assert "predicted 718 texts (100% of the file)" in err


def test_a_worker_killed_mid_run_loses_and_repeats_no_row(cluster, exported_student, corpus_file, tmp_path,
                                                          monkeypatch):
    marker = str(tmp_path / "killed")

    class KilledOnce(ray_engine.Scorer):
        def __call__(self, batch):
            if not os.path.exists(marker):  # the first batch anywhere: its worker dies (as if the node were lost)
                open(marker, "w").close()
                os._exit(1)
            return super().__call__(batch)

    monkeypatch.setattr(ray_engine, "RANGE_BYTES", 4096)
    runtime = ray_engine.RuntimeSettings(cpu_threads=1)
    batches = list(ray_engine.scored_batches(str(corpus_file), exported_student, runtime,
                                             ray_engine.RaySettings(num_workers=2), predict.json_lines,
                                             scorer=KilledOnce))
    assert os.path.exists(marker)
    texts = [json.loads(line)["text"] for batch in batches for line in batch["lines"].splitlines()]
    expected = [text for i, text in enumerate(fixture_texts() * 3) if i not in (7, 300)]
    assert texts == expected  # every row once, in input order
    assert sum(len(batch["skipped"]) for batch in batches) == 2 and sum(b["texts"] for b in batches) == 718


def test_ray_scores_without_paddle(exported_student, tmp_path):
    """pip install ".[deploy,ray]" has no Paddle: the driver and the embedded cluster's workers never import it."""
    import subprocess
    import sys

    from conftest import ROOT
    from test_deploy_without_paddle import without_paddle

    path, out = tmp_path / "two.txt", tmp_path / "two.jsonl"
    path.write_text("房间很干净\n太差了\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "predict.py", "--model_dir", exported_student, "--input_file", str(path),
                           "--output_file", str(out), "--engine", "ray", "--num_workers", "1", "--cpu_threads", "1"],
                          cwd=ROOT, env=without_paddle(tmp_path), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["text"] for line in out.read_text(encoding="utf-8").splitlines()] == ["房间很干净", "太差了"]


def test_a_tsv_with_a_header_is_one_error_line(exported_student, tmp_path, capsys):
    from ernie_distill.cli import run_cli

    path, out = tmp_path / "dev.tsv", tmp_path / "out.jsonl"
    path.write_text("label\ttext_a\n1\t很好\n", encoding="utf-8")
    argv = ["--model_dir", exported_student, "--input_file", str(path), "--output_file", str(out), "--engine", "ray"]
    assert run_cli(lambda: predict.main(argv)) == 2
    assert f"error: --input_file {path} is a TSV with a header: --engine ray reads one text a line" in \
        capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("name, message", [("missing.txt", "file not found"), (".", "cannot be read: "),
                                           ("nowhere://bucket/x.txt", "cannot be read: ")])
def test_an_input_that_cannot_be_opened_is_one_error_line_before_ray_starts(exported_student, tmp_path, capsys,
                                                                            monkeypatch, name, message):
    from ernie_distill.cli import run_cli

    monkeypatch.setattr(ray_engine, "start", lambda *args: pytest.fail("Ray started"))
    path, out = name if "://" in name else str(tmp_path / name), tmp_path / "out.jsonl"
    argv = ["--model_dir", exported_student, "--input_file", path, "--output_file", str(out), "--engine", "ray"]
    assert run_cli(lambda: predict.main(argv)) == 2
    err = capsys.readouterr().err
    assert f"error: --input_file {path}{':' if message == 'file not found' else ''} {message}" in err
    assert "Traceback" not in err and not out.exists()


def test_engine_ray_needs_an_input_and_an_output_file(exported_student, capsys):
    with pytest.raises(SystemExit):
        predict.main(["--model_dir", exported_student, "--text", "好", "--engine", "ray"])
    assert "--engine ray scores an --input_file into an --output_file: give both" in capsys.readouterr().err
