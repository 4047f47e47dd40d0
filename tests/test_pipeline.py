"""The whole chain in QUICK mode (offline, CPU): the notebook's cells, then run_all.sh over the same outputs."""
import os
import re
import shutil
import subprocess

import nbformat
import pytest

from conftest import FIXTURE_DIR, ROOT, linked_pictures
from test_notebook import execute_notebook


def run_all(env_extra, *steps, check=True):
    env = {**os.environ, "QUICK": "1", "DATA_DIR": FIXTURE_DIR, "TRAIN_ROWS": "120", "DEV_ROWS": "40", **env_extra}
    done = subprocess.run(["bash", os.path.join(ROOT, "scripts", "run_all.sh"), *steps], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    if check:
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    output_dir = str(tmp_path_factory.mktemp("quick") / "run")
    env = {**os.environ, "QUICK": "1", "DATA_DIR": FIXTURE_DIR, "OUTPUT_DIR": output_dir, "TRAIN_ROWS": "120",
           "DEV_ROWS": "40"}
    execute_notebook(os.path.join(ROOT, "run_all.ipynb"), env, str(tmp_path_factory.mktemp("kernels")))
    return output_dir


def read_json(path):
    import json

    with open(path) as f:
        return json.load(f)


def test_notebook_is_valid():
    nbformat.validate(nbformat.read(os.path.join(ROOT, "run_all.ipynb"), as_version=4))


def test_quick_mode_writes_every_artifact(quick_run):
    for path in ["best_model/teacher_info.json", "metrics.json", "student-hard/best_model/vocab.txt",
                 "student-hard/metrics.json", "student-distill/metrics.json", "export/teacher/inference.onnx",
                 "export/student-hard/inference.pdiparams", "export/student-distill/manifest.json",
                 "logs/predict.log", "benchmark/benchmark.md", "benchmark/benchmark.png", "report.md"]:
        assert os.path.isfile(os.path.join(quick_run, path)), path


def test_report_figures_come_from_the_metrics_files(quick_run):
    with open(os.path.join(quick_run, "report.md"), encoding="utf-8") as f:
        report = f.read()
    assert "RANDOM weights" in report  # the untrained quick teacher is named as such
    rows = {line.split("|")[1].strip(): [cell.strip() for cell in line.split("|")[2:-1]]
            for line in report.splitlines() if line.startswith("| Teacher") or line.startswith("| Student")}
    expected = {
        "Teacher": read_json(os.path.join(quick_run, "metrics.json"))["dev_accuracy"],
        "Student: Bi-LSTM on hard labels": read_json(os.path.join(quick_run, "student-hard/metrics.json"))["dev_accuracy"],
        "Student: Bi-LSTM distilled": read_json(os.path.join(quick_run, "student-distill/metrics.json"))["dev_accuracy"],
    }
    benchmark = read_json(os.path.join(quick_run, "benchmark", "benchmark.json"))["rows"]
    for prefix, accuracy in expected.items():
        (label, cells), = [(k, v) for k, v in rows.items() if k.startswith(prefix)]
        assert cells[0].startswith(f"{accuracy:.2%}"), (label, cells)
        name = {"Teacher": "teacher", "Student: Bi-LSTM on hard labels": "student-hard"}.get(prefix, "student-distill")
        best = max((r for r in benchmark if r["name"] == name), key=lambda r: r["batch32_sentences_per_s"])
        manifest = read_json(os.path.join(quick_run, "export", name, "manifest.json"))
        assert cells[2] == f"{manifest['num_parameters'] / 1e6:.1f}M" and cells[4] == best["backend"]
        assert cells[6] == f"{best['batch32_sentences_per_s']:.0f}"
    samples = re.findall(r"^\| (这家酒店|书的纸张|屏幕很漂亮).*\| (positive|negative) \|", report, re.M)
    assert len(samples) == 3
    assert "## Sample predictions (distilled student, numba)" in report  # the backend predict.py ran, as it logged


def test_the_report_shows_each_models_curves_and_the_models_chart(quick_run):
    assert set(linked_pictures(quick_run)) == {"teacher: training curves", "student-hard: training curves",
                                               "student-distill: training curves", "size, speed and accuracy",
                                               "benchmark"}  # (no confusion matrices for two classes)


def test_rerun_skips_finished_steps(quick_run):
    done = run_all({"OUTPUT_DIR": quick_run})
    skipped = re.findall(r"^== (\S+): already done", done.stdout, re.M)
    assert skipped == ["data", "tiny-teacher", "teacher", "student", "distill", "export-teacher", "export-student",
                       "export-distill", "predict", "benchmark"]
    assert "== report: python scripts/report.py" in done.stdout  # the report is always rewritten (cheap)


def test_an_interrupted_step_rerun_with_the_same_settings_resumes_from_its_checkpoint(quick_run):
    """A step that started (logs/STEP.started) but never finished (no logs/STEP.done, no metrics.json: as a run stopped
    after its checkpoint leaves it) is rerun with --resume, and resumes from that checkpoint."""
    os.remove(os.path.join(quick_run, "logs", "student.done"))
    os.remove(os.path.join(quick_run, "student-hard", "metrics.json"))
    done = run_all({"OUTPUT_DIR": quick_run}, "student")
    assert re.search(r"^== student: python distill_lstm.py .*--num_epochs 1 --resume$", done.stdout, re.M)
    assert re.search(r"resumed from \S+ at step \d+", done.stdout)  # the checkpoint was taken up, not ignored
    metrics = read_json(os.path.join(quick_run, "student-hard", "metrics.json"))
    assert metrics["args"]["resume"] and os.path.isfile(os.path.join(quick_run, "logs", "student.done"))


def test_changed_settings_or_data_redo_the_step_from_scratch_and_those_after_it(quick_run):
    done = run_all({"OUTPUT_DIR": quick_run, "STUDENT_ARGS": "--num_epochs 2"}, "student", "export")
    assert re.search(r"^== student: python distill_lstm.py .*--num_epochs 2$", done.stdout, re.M)  # no --resume
    assert re.findall(r"^== (\S+): already done", done.stdout, re.M) == ["export-teacher", "export-distill"]
    assert "== export-student: python export_model.py" in done.stdout  # its input, the student, changed
    metrics = read_json(os.path.join(quick_run, "student-hard", "metrics.json"))
    assert metrics["args"]["num_epochs"] == 2 and not metrics["args"]["resume"]
    assert not os.path.exists(os.path.join(quick_run, "report.md"))  # the older run's report is gone, not left as new

    done = run_all({"OUTPUT_DIR": quick_run, "TRAIN_ROWS": "100"}, "data")  # was 120: a new data slice
    assert "== data: slice_data" in done.stdout and "already done" not in done.stdout


def test_a_failing_step_stops_the_script_and_names_its_log(tmp_path):
    done = run_all({"OUTPUT_DIR": str(tmp_path), "MODEL_TYPE": "gpt"}, check=False)
    log = os.path.join(str(tmp_path), "logs", "teacher.log")
    assert done.returncode != 0 and f"step 'teacher' failed (exit 2); see {log}" in done.stderr
    assert "invalid choice: 'gpt'" in open(log).read()
    assert "== student" not in done.stdout and not os.path.exists(os.path.join(str(tmp_path), "student-hard"))


@pytest.mark.parametrize("local_data", [False, True])
def test_quick_mode_without_data_dir_takes_the_local_data_else_the_repositorys_fixture(tmp_path, local_data):
    """Without DATA_DIR, QUICK=1 slices the data scripts/download_data.py wrote (data/chnsenticorp; LOCAL_DATA_DIR names
    another place) where it is, else the repository's fixture (SHARED_DATA_DIR: the project's machines' copy, absent)."""
    local = tmp_path / "local"
    if local_data:
        shutil.copytree(os.path.join(ROOT, "tests", "fixtures", "topics"), local)
    done = run_all({"OUTPUT_DIR": str(tmp_path / "run"), "DATA_DIR": "", "LOCAL_DATA_DIR": str(local),
                           "SHARED_DATA_DIR": str(tmp_path / "none")}, "data")
    used = str(local) if local_data else FIXTURE_DIR
    assert f"== data: slice_data {used} " in done.stdout
    assert (f"using {FIXTURE_DIR}" in done.stdout) is not local_data


def test_a_full_run_on_a_cpu_stops_before_the_teacher_unless_asked_for(tmp_path):
    import paddle

    if paddle.device.is_compiled_with_cuda() and paddle.device.cuda.device_count():
        pytest.skip("a GPU is here")
    env = {"OUTPUT_DIR": str(tmp_path), "QUICK": "0", "DEVICE": "", "MODEL_NAME": "unused"}
    done = run_all(env, check=False)
    assert done.returncode == 2 and "about 13 h" in done.stderr and "DEVICE=cpu" in done.stderr
    assert not os.path.exists(tmp_path / "logs" / "teacher.log")


def test_a_data_dir_without_the_splits_is_one_error_line(tmp_path):
    done = run_all({"OUTPUT_DIR": str(tmp_path / "run"), "DATA_DIR": str(tmp_path)}, check=False)
    assert done.returncode == 2 and f"DATA_DIR {tmp_path} has no train.tsv and dev.tsv" in done.stderr
    assert not os.path.exists(tmp_path / "run" / "data")


def test_step_args_add_to_quicks_settings_and_own_data_keeps_its_name(tmp_path):
    """GLUE_ARGS and DISTILL_ARGS come after QUICK's flags (argparse: the later one wins), and a data folder of one's
    own (labels.txt) names the task, not ChnSentiCorp. Flags that fail at parsing stop each step at once."""
    topics = os.path.join(ROOT, "tests", "fixtures", "topics")
    env = {"OUTPUT_DIR": str(tmp_path), "DATA_DIR": topics, "GLUE_ARGS": "--num_train_epochs 0",
           "DISTILL_ARGS": "--n_iter 3 --alpha 7"}
    done = run_all(env, "teacher", check=False)
    assert re.search(r"^== teacher: python run_glue.py .*--task_name topics .*--num_train_epochs 1 .*"
                     r"--num_train_epochs 0$", done.stdout, re.M), done.stdout
    done = run_all(env, "distill", check=False)
    assert re.search(r"^== distill: python distill_lstm.py --task_name topics .*--num_epochs 1 --n_iter 2 --n_iter 3 "
                     r"--alpha 7$", done.stdout, re.M), done.stdout
    assert "argument --alpha: must be >= 0 and <= 1, got 7" in done.stdout
