"""Fine-tune a PaddleNLP encoder (ERNIE-Gram by default) on ChnSentiCorp, or your own task, and keep the best
checkpoint as the teacher.

The course's command works unchanged:
    python run_glue.py --model_type ernie-gram --model_name_or_path ernie-gram-zh --task_name ChnSentiCorp \\
        --max_seq_length 128 --batch_size 24 --learning_rate 5e-5 --num_train_epochs 3 --logging_steps 10 \\
        --save_steps 10 --output_dir ./tmp/ChnSentiCorp/ --device gpu
Data-parallel: python -m paddle.distributed.launch --gpus 0,1 run_glue.py ... (--nproc_per_node 2 ... --device cpu
on CPUs): each rank trains on its share, --batch_size is per rank; rank 0 evaluates, logs and saves (docs/scale.md).
Writes OUTPUT_DIR/best_model (the teacher), OUTPUT_DIR/checkpoint (for --resume) and OUTPUT_DIR/metrics.json.
"""
import os
import sys

import numpy as np

from ernie_distill.cli import (ArgumentParser, add_data_arguments, add_run_arguments, boolean, non_negative_float,
                               non_negative_int, positive_float, positive_int, probability, run_cli, settings_from)
from ernie_distill.data.reading import load_splits, load_task
from ernie_distill.log import logger
from ernie_distill.models.teacher import (MODEL_CLASSES, OptimizerSettings, adamw_with_warmup, encode, encoded_logits,
                                          is_random_init, load_pretrained, pad_batch, save_teacher)
from ernie_distill.training.checkpoint import set_seed
from ernie_distill.training.curves import TrainingCurves
from ernie_distill.training.data_parallel import DataParallel
from ernie_distill.training.loop import BEST_MODEL, MixedPrecision, Schedule, run_fingerprint, train, write_metrics
from ernie_distill.training.scores import classification_scores

import paddle  # after ernie_distill, which quiets Paddle's import-time warnings
import paddle.nn.functional as F


def parse_args(argv=None):
    parser = ArgumentParser(__doc__)
    model = parser.add_argument_group("model")
    model.add_argument("--model_type", required=True, choices=list(MODEL_CLASSES), help="encoder family")
    model.add_argument("--model_name_or_path", required=True,
                       help="PaddleNLP name (ernie-gram-zh, ernie-1.0, bert-base-chinese; downloaded) or local dir")
    add_data_arguments(parser, "tokens per text (the model's position table is the limit)")
    train_group = parser.add_argument_group("training")
    train_group.add_argument("--batch_size", type=positive_int, default=32)
    train_group.add_argument("--learning_rate", type=positive_float, default=5e-5)
    train_group.add_argument("--num_train_epochs", type=positive_int, default=3)
    train_group.add_argument("--max_steps", type=int, default=-1, help="if > 0: stop after this many steps")
    train_group.add_argument("--warmup_proportion", type=probability, default=0.1)
    train_group.add_argument("--weight_decay", type=non_negative_float, default=0.01)
    train_group.add_argument("--adam_epsilon", type=positive_float, default=1e-8)
    train_group.add_argument("--max_grad_norm", type=positive_float, default=1.0)
    train_group.add_argument("--logging_steps", type=positive_int, default=100)
    train_group.add_argument("--save_steps", type=non_negative_int, default=100,
                             help="evaluate on dev (and checkpoint) every N steps and at the end; 0: at each epoch end")
    train_group.add_argument("--use_amp", type=boolean, nargs="?", const=True, default=False,
                             help="mixed precision on a GPU: float16 with dynamic loss scaling, as PaddleNLP's "
                                  "--use_amp (Paddle has no mixed-precision training on a CPU)")
    train_group.add_argument("--scale_loss", type=positive_float, default=2.0**15,
                             help="--use_amp's initial loss scaling")
    add_run_arguments(parser)
    args = parser.parse_args(argv)
    if args.use_amp and args.device != "gpu":
        parser.error("--use_amp runs on a GPU only: Paddle's mixed precision (paddle.amp) has no effect on a CPU, "
                     "and its CPU kernels cannot train in bfloat16; leave out --use_amp, or use --device gpu")
    return args


def fingerprint_settings(args, world_size=1):
    """The settings a checkpoint must match to be resumed: the AMP flags count only with --use_amp on, and the world
    size (the global batch) only when above 1, so a run from before they existed still resumes."""
    settings = {k: v for k, v in vars(args).items() if args.use_amp or k not in ("use_amp", "scale_loss")}
    return {**settings, "world_size": world_size} if world_size > 1 else settings


def main(argv=None):
    args = parse_args(argv)
    paddle.set_device(args.device)
    parallel = DataParallel.start(args.batch_size)
    set_seed(args.seed + parallel.rank)
    task = load_task(args.task_name, args.data_dir)

    # Data (a local test.tsv, when present, scores the best model at the end)
    wanted = ("train", "dev", "test") if args.data_dir else ("train", "dev")
    splits = load_splits(task, args.data_dir, wanted, args.skip_invalid, args.download_timeout)
    logger.info(", ".join(f"{split} {len(rows)} rows" for split, rows in splits.items()))

    # Model
    model, tokenizer = load_pretrained(args.model_type, args.model_name_or_path, len(task.labels), args.max_seq_length)
    encoded = {split: encode(tokenizer, [e.text for e in rows], args.max_seq_length) for split, rows in splits.items()}
    labels = {split: np.array([e.label for e in rows], dtype="int64") for split, rows in splits.items()}
    dataset = list(zip(encoded["train"], labels["train"]))
    sampler = paddle.io.DistributedBatchSampler(dataset, args.batch_size, shuffle=True)
    schedule = Schedule(args.num_train_epochs, len(sampler), args.max_steps, args.save_steps, args.logging_steps)
    schedule.warn_if_short(len(dataset), args.batch_size, "teacher")
    optimizer, lr_scheduler = adamw_with_warmup(model, settings_from(OptimizerSettings, args), schedule.total_steps)

    def epoch_batches(epoch):
        sampler.set_epoch(args.seed * 1000 + epoch)  # a fixed order per epoch: a resumed run skips what it did
        for rows in sampler:
            input_ids, token_type_ids = pad_batch([dataset[i][0] for i in rows], tokenizer.pad_token_id)
            yield input_ids, token_type_ids, np.array([dataset[i][1] for i in rows])

    def compute_loss(net, batch):
        input_ids, token_type_ids, gold = (paddle.to_tensor(a) for a in batch)
        return F.cross_entropy(net(input_ids, token_type_ids=token_type_ids), gold)

    def scores(split):
        logits = encoded_logits(model, encoded[split], tokenizer.pad_token_id, args.batch_size * 2)
        return classification_scores(logits.argmax(axis=1), labels[split], task.label_names)

    def save_best(directory, state):
        save_teacher(model, tokenizer, directory, {
            "model_type": args.model_type, "init_from": args.model_name_or_path,
            "pretrained": not is_random_init(args.model_name_or_path), "task_name": task.name,
            "labels": list(task.labels), "label_names": list(task.label_names), "max_seq_length": args.max_seq_length,
            "step": state.global_step, "epoch": state.best_epoch, "dev_accuracy": state.best_accuracy,
        }, args.model_name_or_path)

    state = train(parallel.wrap(model), optimizer, schedule, epoch_batches, compute_loss, lambda _: scores("dev"),
                  save_best, args.output_dir, run_fingerprint(fingerprint_settings(args, parallel.world_size), splits),
                  "teacher", args.resume, lr_scheduler, parallel.is_main,
                  MixedPrecision(args.scale_loss) if args.use_amp else None,
                  curves=TrainingCurves(args.output_dir, args.logging_dir, f"teacher ({args.model_type})"))
    if parallel.is_main:
        test_accuracy = None
        if "test" in splits and labels["test"].min() >= 0:  # a labelled test split: score the best model once
            model.set_state_dict(paddle.load(os.path.join(args.output_dir, BEST_MODEL, "model_state.pdparams")))
            test_accuracy = scores("test")["accuracy"]
            logger.info("best model (step %d): test accuracy %.4f", state.best_step, test_accuracy)
        write_metrics(args.output_dir, state, kind="teacher", mode="fine_tune", task=task, test_accuracy=test_accuracy,
                      num_parameters=int(sum(p.size for p in model.parameters())), settings=vars(args),
                      pretrained=not is_random_init(args.model_name_or_path))
    parallel.finish()
    return state


if __name__ == "__main__":
    sys.exit(run_cli(main))
