"""run_glue.py data-parallel under Paddle's launcher, on 2 CPU ranks (gloo): one log, one evaluation, one best model,
the world size said, a resume under the launcher, and exit status 0."""
import json
import os
import re
import signal
import subprocess
import sys
import time

from conftest import ROOT, glue_args


def launch(tiny_teacher_init, output_dir, log_dir, *extra):
    return subprocess.Popen(
        [sys.executable, "-m", "paddle.distributed.launch", "--nproc_per_node", "2", "--log_dir", str(log_dir),
         os.path.join(ROOT, "run_glue.py"), *glue_args(tiny_teacher_init, str(output_dir), "--max_steps", "100",
                                                        "--save_steps", "10", "--logging_steps", "10", *extra)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def worker_logs(log_dir):
    logs = []
    for rank in (0, 1):
        with open(os.path.join(log_dir, f"workerlog.{rank}"), encoding="utf-8") as f:
            logs.append(f.read())
    return logs


def test_two_cpu_ranks_train_once_log_once_resume_and_exit_0(tiny_teacher_init, tmp_path):
    output_dir = tmp_path / "out"
    first = launch(tiny_teacher_init, output_dir, tmp_path / "log1")
    deadline = time.monotonic() + 120
    while not (output_dir / "checkpoint" / "trainer_state.json").exists():  # the first checkpoint: interrupt the run
        assert first.poll() is None and time.monotonic() < deadline, first.communicate()[0]
        time.sleep(0.05)
    first.send_signal(signal.SIGINT)
    first.communicate(timeout=60)
    with open(output_dir / "checkpoint" / "trainer_state.json") as f:
        interrupted_at = json.load(f)["global_step"]
    assert 10 <= interrupted_at < 100

    second = launch(tiny_teacher_init, output_dir, tmp_path / "log2", "--resume")
    launcher_output = second.communicate(timeout=300)[0]
    assert second.returncode == 0, launcher_output
    rank0, rank1 = worker_logs(tmp_path / "log2")
    assert "data-parallel: world size 2, batch size 16 a rank, global batch size 32" in rank0
    assert f"resumed from {output_dir}/checkpoint at step {interrupted_at}" in rank0
    evaluations = re.findall(r"- step \d+ \(epoch \d+\): dev accuracy", rank0)  # not the closing "best dev accuracy"
    assert len(evaluations) == (100 - interrupted_at) // 10
    assert "INFO" not in rank1 and "Traceback" not in rank1  # one log: rank 1 says warnings only
    assert sorted(os.listdir(output_dir)) == ["best_model", "checkpoint", "curves.png", "metrics.json", "runs"]
    assert len(os.listdir(output_dir / "runs")) == 2  # a VisualDL log a run (the first and the resumed), rank 0 only
    with open(output_dir / "metrics.json") as f:
        metrics = json.load(f)
    assert metrics["steps"] == 100 and metrics["eval_history"][-1][0] == 100
    # 240 rows shared by 2 ranks of 16: 8 steps an epoch, not the 15 of one process
    assert "training 100 steps (8 per epoch" in rank0


def test_a_checkpoint_resumes_only_with_the_same_number_of_ranks():
    import run_glue
    from ernie_distill.training.checkpoint import differences

    args = run_glue.parse_args(glue_args("model", "out"))
    one, two = run_glue.fingerprint_settings(args), run_glue.fingerprint_settings(args, world_size=2)
    assert "world_size" not in one  # a single process's checkpoint of before still resumes
    assert differences(one, two) and differences(two, one)
