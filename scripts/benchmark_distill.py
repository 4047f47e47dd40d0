"""Does distillation help? A proxy-teacher experiment on the real data, one command (about 30-40 min on 2 cores).

    python scripts/benchmark_distill.py --output_dir tmp/benchmark-distill

The pretrained ERNIE-Gram cannot be downloaded here, so the teacher is an ensemble built here that is stronger than one
student: hard-label students of different inputs and seeds (--members), each exported and run through the Predictor.
Then one default student is distilled from the ensemble's mean logits on the augmented transfer set, and the default
student is trained on hard labels with the same seed as the control. Every model is scored on dev and on --ood_file
(out of domain: scored only), with an exact McNemar test of distilled vs control on dev. Writes OUTPUT_DIR/summary.json
(each model's best_model and figures) and prints the table. Finished runs of the same command and code are not
redone.
"""
import os
import subprocess
import sys

import numpy as np

from ernie_distill.atomic import read_json, write_json
from ernie_distill.cli import ArgumentParser, positive_int, run_cli
from ernie_distill.data.reading import load_task, read_tsv
from ernie_distill.errors import InputError
from ernie_distill.deploy.inference import Predictor
from ernie_distill.training.scores import mcnemar_exact
from ernie_distill.training.loop import code_digest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(ROOT, "..", "shared", "data")
# name -> distill_lstm.py flags: the default student twice and Tang et al.'s word-level one, for a diverse ensemble
MEMBERS = {"chars-bag-s11": ["--seed", "11"], "chars-bag-s12": ["--seed", "12"],
           "words-s11": ["--seed", "11", "--tokens", "words", "--ngram_max", "0", "--max_seq_length", "128"]}


def run(command, output_dir):
    """python COMMAND unless output_dir holds metrics.json of the same command and code (a finished run)."""
    stamp = os.path.join(output_dir, "experiment_command.json")
    made_by = {"command": command, "code": code_digest()}
    if os.path.isfile(os.path.join(output_dir, "metrics.json")) and os.path.isfile(stamp) \
            and read_json(stamp) == made_by:
        print(f"{output_dir}: done before with this command and code", file=sys.stderr)
        return
    print("$ python", " ".join(command), file=sys.stderr, flush=True)
    if subprocess.run([sys.executable, *command], cwd=ROOT).returncode:
        raise InputError(f"`python {' '.join(command)}` failed (its message is above); fix that and run this again: "
                         "finished steps are not redone")
    write_json(stamp, made_by)


def export(out, name):
    """OUTPUT_DIR/export/NAME from NAME/best_model, unless an export newer than that best model is there."""
    best, path = os.path.join(out, name, "best_model"), os.path.join(out, "export", name)
    manifest = os.path.join(path, "manifest.json")
    if not os.path.isfile(manifest) or os.path.getmtime(manifest) < os.path.getmtime(best):
        command = ["export_model.py", "--model_dir", best, "--output_path", path, "--onnx"]
        print("$ python", " ".join(command), file=sys.stderr, flush=True)
        if subprocess.run([sys.executable, *command], cwd=ROOT).returncode:
            raise InputError(f"exporting {best} failed (its message is above)")
    return path


def main():
    parser = ArgumentParser(__doc__)
    parser.add_argument("--data_dir", default=os.path.join(SHARED, "chnsenticorp"))
    parser.add_argument("--ood_file", default=os.path.join(SHARED, "online_shopping_dev", "dev.tsv"))
    parser.add_argument("--members", nargs="+", default=list(MEMBERS), choices=list(MEMBERS))
    parser.add_argument("--seed", type=positive_int, default=1, help="the distilled student's and the control's")
    parser.add_argument("--output_dir", default=os.path.join(ROOT, "tmp", "benchmark-distill"))
    parser.add_argument("extra", nargs="*", help="more distill_lstm.py arguments for the distilled student (after --)")
    args = parser.parse_args()
    out, common = args.output_dir, ["--data_dir", args.data_dir, "--device", "cpu"]

    teachers = []
    for name in args.members:
        run(["distill_lstm.py", *common, "--output_dir", f"{out}/{name}", *MEMBERS[name]], f"{out}/{name}")
        teachers += ["--teacher_dir", export(out, name)]
    run(["distill_lstm.py", *common, "--output_dir", f"{out}/distilled", "--seed", str(args.seed), *teachers,
         "--cache_dir", f"{out}/cache", *args.extra], f"{out}/distilled")
    run(["distill_lstm.py", *common, "--output_dir", f"{out}/control", "--seed", str(args.seed)], f"{out}/control")
    export(out, "distilled"), export(out, "control")

    task = load_task("chnsenticorp", args.data_dir)
    sets = {"dev": read_tsv(os.path.join(args.data_dir, "dev.tsv"), task)[0], "ood": read_tsv(args.ood_file, task)[0]}
    gold = {split: np.array([e.label for e in examples]) for split, examples in sets.items()}
    logits = {name: {split: Predictor(f"{out}/export/{name}", "onnx").logits([e.text for e in examples])
                     for split, examples in sets.items()} for name in [*args.members, "distilled", "control"]}
    logits["ensemble teacher"] = {split: np.mean([logits[m][split] for m in args.members], axis=0) for split in sets}
    correct = {name: {split: values.argmax(axis=1) == gold[split] for split, values in by_split.items()}
               for name, by_split in logits.items()}
    test = mcnemar_exact(correct["distilled"]["dev"], correct["control"]["dev"])
    rows = [{"model": name, "dev_accuracy": float(c["dev"].mean()), "ood_accuracy": float(c["ood"].mean()),
             "best_model": None if name == "ensemble teacher" else os.path.abspath(f"{out}/{name}/best_model"),
             "export": None if name == "ensemble teacher" else os.path.abspath(f"{out}/export/{name}")}
            for name, c in correct.items()]
    distilled = read_json(f"{out}/distilled/metrics.json")
    lines = [f"| model | dev | out of domain (`{os.path.basename(os.path.dirname(args.ood_file))}`) |", "|---|---|---|"]
    lines += [f"| {r['model']} | {r['dev_accuracy']:.2%} | {r['ood_accuracy']:.2%} |" for r in rows]
    lines += ["", f"Distilled vs control on dev: distilled alone right on {test['only_a']} texts, control alone on "
              f"{test['only_b']}; exact McNemar p = {test['p_value']:.3f}. Transfer set {distilled['train_examples']} "
              f"texts; distillation {distilled['wall_time_s'] / 60:.1f} min of training."]
    print("\n".join(lines))
    write_json(f"{out}/summary.json", {"rows": rows, "mcnemar_distilled_vs_control_dev": test, "table": lines,
                                       "distilled_args": distilled["args"],
                                       "members": {m: MEMBERS[m] for m in args.members}})


if __name__ == "__main__":
    sys.exit(run_cli(main))
