"""Train the Bi-LSTM student: on hard labels (the baseline), or distilled from teachers (Tang et al. 2019).

    python distill_lstm.py --data_dir DIR --output_dir tmp/student-hard --device cpu
    python distill_lstm.py --data_dir DIR --output_dir tmp/student-distill --teacher_dir tmp/ChnSentiCorp/best_model
    python distill_lstm.py ... --teacher_dir T --unlabeled_file my_reviews.txt   # the teacher labels your texts
    python distill_lstm.py ... --write_transfer_set transfer.txt                 # for a teacher elsewhere, then
    python distill_lstm.py ... --teacher_outputs outputs.jsonl                   # its logits (predict.py --logits)

The student reads characters (a Bi-LSTM) beside a bag of character n-grams and words; `--tokens words --ngram_max 0`
is Tang et al.'s word-level student. With a teacher it learns the teacher's logits (MSE by default) on a transfer
set: the training texts, your unlabeled texts, and augmented copies (masking, POS-guided replacement, n-gram
sampling). Writes OUTPUT_DIR/best_model (the dir export_model.py takes), OUTPUT_DIR/checkpoint (for --resume) and
OUTPUT_DIR/metrics.json.
"""
import os
import sys

import numpy as np

from ernie_distill.cli import (ArgumentParser, add_data_arguments, add_distillation_arguments,
                               add_run_arguments, add_student_input_arguments, bounded, non_negative_float,
                               non_negative_int, positive_float, positive_int, run_cli, settings_from)
from ernie_distill.data.reading import load_splits, load_task
from ernie_distill.log import logger
from ernie_distill.models.features import InputSettings, StudentInputs
from ernie_distill.models.student import (BiLSTMClassifier, StudentConfig, adamw_decaying, num_parameters,
                                          save_student, student_scores, training_batches, use_pretrained_embeddings)
from ernie_distill.training.checkpoint import set_seed
from ernie_distill.training.curves import TrainingCurves
from ernie_distill.training.loop import STUDENT_LENGTH, Schedule, run_fingerprint, train, write_metrics
from ernie_distill.training.losses import distillation_loss
from ernie_distill.training.transfer_set import (TransferSettings, training_set, transfer_set_for,
                                                 write_transfer_set)

import paddle  # after ernie_distill, which quiets Paddle's import-time warnings


def parse_args(argv=None):
    parser = ArgumentParser(__doc__)
    add_data_arguments(parser, "tokens the Bi-LSTM reads per text", max_seq_length_limit=4096, max_seq_length=200)
    add_student_input_arguments(parser)
    add_distillation_arguments(parser)
    training = parser.add_argument_group("training")
    training.add_argument("--batch_size", type=positive_int, default=32)
    training.add_argument("--learning_rate", type=positive_float, default=1e-3)
    training.add_argument("--num_epochs", type=positive_int,
                          help="train exactly N epochs. Default: the data decides: on hard labels at least 6 epochs "
                               "and 1,800 steps, when distilling at least 3 epochs and 2,400 steps (300 texts: 180 "
                               "epochs of 10 steps), stopping early (--patience)")
    training.add_argument("--patience", type=non_negative_int,
                          help="stop after N evaluations in a row without a better dev accuracy, keeping the best "
                               "model (0: never). Default: 5 without --num_epochs, else 0")
    training.add_argument("--max_grad_norm", type=positive_float, default=5.0)
    training.add_argument("--lr_schedule", choices=["linear", "constant"], default="linear",
                          help="linear: decay to zero over the run")
    training.add_argument("--weight_decay", type=non_negative_float, default=0.01, help="AdamW's decoupled decay")
    training.add_argument("--word_dropout", type=bounded(float, 0, 0.9), default=0.1,
                          help="chance a token becomes [UNK] in training")
    training.add_argument("--ngram_dropout", type=bounded(float, 0, 0.9), default=0.1,
                          help="chance a bag entry is left out in training")
    training.add_argument("--eval_steps", type=non_negative_int, default=0,
                          help="evaluate (and checkpoint) every N steps (0: at each epoch end, or often enough to "
                               "make 20 evaluations when the data sets the epochs)")
    training.add_argument("--logging_steps", type=positive_int, default=50)
    add_run_arguments(parser, output_required=False)
    args = parser.parse_args(argv)
    teachers = len(args.teacher_dir or []) + len(args.teacher_outputs or [])
    if not args.output_dir and not args.write_transfer_set:
        parser.error("the following arguments are required: --output_dir")
    if args.write_transfer_set and os.path.exists(args.write_transfer_set):
        parser.error(f"--write_transfer_set {args.write_transfer_set} exists: give a new file name (it writes new "
                     "files only)")
    if args.write_transfer_set and not os.path.isdir(os.path.dirname(os.path.abspath(args.write_transfer_set))):
        parser.error(f"--write_transfer_set {args.write_transfer_set}: its directory does not exist")
    if args.p_mask + args.p_pos > 1:
        parser.error(f"--p_mask {args.p_mask} + --p_pos {args.p_pos} is over 1: they share each word's chance")
    if args.teacher_weights and len(args.teacher_weights) != teachers:
        parser.error(f"--teacher_weights has {len(args.teacher_weights)} value(s) for {teachers} teacher(s) "
                     "(--teacher_dir and --teacher_outputs): give one weight per teacher")
    if args.teacher_weights and not sum(args.teacher_weights) > 0:
        parser.error("--teacher_weights are all zero: give at least one teacher a weight")
    if args.unlabeled_file and not (teachers or args.write_transfer_set):
        parser.error("--unlabeled_file needs a teacher to label the texts: add --teacher_dir or --teacher_outputs (or "
                     "--write_transfer_set, to label them elsewhere)")
    if (args.unlabeled_max or args.augment_unlabeled) and not args.unlabeled_file:
        parser.error("--unlabeled_max and --augment_unlabeled apply to --unlabeled_file texts: give one")
    return args


def main(argv=None):
    args = parse_args(argv)
    paddle.set_device(args.device)
    task = load_task(args.task_name, args.data_dir)
    # measured (docs/results.md): for two classes 32 scores as 64 does, for ten 128 is best and 32 loses the rare class
    args.hidden_size = args.hidden_size or (32 if len(task.labels) == 2 else 128)

    # Data: the training texts; with teachers, the transfer set (training, unlabeled and augmented texts) and their
    # logits; the student's inputs (vocabulary, bag), built from the training and unlabeled texts
    splits = load_splits(task, args.data_dir, ("train", "dev"), args.skip_invalid, args.download_timeout)
    if args.write_transfer_set:  # for a teacher elsewhere: the run ends here
        write_transfer_set(transfer_set_for(settings_from(TransferSettings, args), task, splits, args.data_dir),
                           args.write_transfer_set)
        return 0
    texts, labels, targets, teacher, unlabeled = training_set(settings_from(TransferSettings, args), task, splits,
                                                              args.data_dir, args.teacher_dir or args.teacher_outputs)
    inputs = StudentInputs.build([e.text for e in splits["train"]] + unlabeled, InputSettings(
        args.tokens, args.max_seq_length, args.vocab_min_freq, args.vocab_max_size, args.ngram_max,
        args.ngram_min_freq, args.ngram_max_size, ngram_words=args.ngram_words, segmenter=args.segmenter))
    train_encoded, labels = [inputs.encode(text) for text in texts], np.asarray(labels)
    dev_encoded, dev_labels = [inputs.encode(e.text) for e in splits["dev"]], [e.label for e in splits["dev"]]
    logger.info("train %d texts, dev %d, vocabulary %d tokens, bag %d entries", len(texts), len(dev_encoded),
                len(inputs.vocab), len(inputs.ngrams or []))

    # Model (seeded here, so a run that loaded cached logits builds the same student as one that ran the teacher)
    set_seed(args.seed)
    model = BiLSTMClassifier(settings_from(StudentConfig, args, vocab_size=len(inputs.vocab),
                                           num_classes=len(task.labels), ngram_vocab_size=len(inputs.ngrams or [])))
    embeddings = args.pretrained_embeddings and use_pretrained_embeddings(model, inputs.vocab,
                                                                          args.pretrained_embeddings)
    n_params = num_parameters(model)
    logger.info("student: %s, %.2fM parameters (%.1f MB in float32)", model.config, n_params / 1e6, n_params / 2**18)
    mode = "distill" if teacher else "hard_labels"
    schedule = Schedule.following_data(-(-len(train_encoded) // args.batch_size), num_epochs=args.num_epochs,
                                       patience=args.patience, eval_steps=args.eval_steps,
                                       logging_steps=args.logging_steps, **STUDENT_LENGTH[mode])
    args.num_epochs, args.patience = schedule.num_epochs, schedule.patience  # the fingerprint holds what runs
    optimizer, lr = adamw_decaying(model, args.learning_rate, schedule.total_steps, args.weight_decay,
                                   args.max_grad_norm, args.lr_schedule == "linear")

    def epoch_batches(epoch):  # the same batches and dropout for an epoch after --resume
        return training_batches(inputs, train_encoded, args.batch_size, np.random.default_rng([args.seed, epoch]),
                                args.word_dropout, args.ngram_dropout)

    def compute_loss(net, batch):
        arrays, rows = batch
        logits = net(**{name: paddle.to_tensor(array) for name, array in arrays.items()})
        soft = None if targets is None else paddle.to_tensor(targets[rows])
        return distillation_loss(logits, paddle.to_tensor(labels[rows]), soft, args.alpha, args.distill_loss,
                                 args.temperature)

    def save_best(directory, state):
        save_student(model, inputs, directory, {
            "mode": mode, "task_name": task.name, "labels": list(task.labels), "label_names": list(task.label_names),
            "max_seq_length": args.max_seq_length, "dev_accuracy": state.best_accuracy, "epoch": state.best_epoch,
            "step": state.best_step, "num_parameters": n_params, "teacher": teacher,
            "pretrained_embeddings": embeddings})
    state = train(model, optimizer, schedule, epoch_batches, compute_loss,
                  lambda net: student_scores(net, inputs, dev_encoded, dev_labels, task.label_names), save_best,
                  args.output_dir, run_fingerprint(vars(args), splits, teachers=teacher and teacher["teacher_digests"],
                                  transfer=teacher and os.path.basename(teacher["cache"])),
                  "student", args.resume, lr, curves=TrainingCurves(args.output_dir, args.logging_dir,
                                                                    f"student ({mode})"))
    return write_metrics(args.output_dir, state, kind="student", mode=mode, task=task, num_parameters=n_params,
                         settings=vars(args), teacher=teacher, vocab_size=len(inputs.vocab),
                         bag_size=len(inputs.ngrams or []), train_examples=len(train_encoded),
                         unlabeled_texts=len(unlabeled), pretrained_embeddings=embeddings)


if __name__ == "__main__":
    sys.exit(run_cli(main))
