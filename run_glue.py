"""Fine-tune a PaddleNLP encoder (ERNIE-Gram by default) on ChnSentiCorp and keep the best checkpoint as the teacher.

The course's command works unchanged:
    python run_glue.py --model_type ernie-gram --model_name_or_path ernie-gram-zh --task_name ChnSentiCorp \
        --max_seq_length 128 --batch_size 24 --learning_rate 5e-5 --num_train_epochs 3 --logging_steps 10 \
        --save_steps 10 --output_dir ./tmp/ChnSentiCorp/ --device gpu
Multi-GPU: python -m paddle.distributed.launch --gpus 0,1 run_glue.py ... (data-parallel; rank 0 saves).
Writes OUTPUT_DIR/best_model (the teacher), OUTPUT_DIR/checkpoint (for --resume) and OUTPUT_DIR/train_metrics.json.
"""
import argparse
import math
import os
import shutil
import sys
import time

import numpy as np
import paddle
from paddle.metric import Accuracy
from paddlenlp.transformers import LinearDecayWithWarmup

from ernie_distill.checkpoint import load_checkpoint, save_checkpoint, set_seed
from ernie_distill.data import load_splits, task_spec
from ernie_distill.cli import run_cli
from ernie_distill.atomic import save_dir_atomically, write_json
from ernie_distill.log import Progress, logger
from ernie_distill.teacher import (
    MODEL_CLASSES,
    RANDOM_INIT_MARKER,
    TEACHER_INFO,
    encode,
    is_random_init,
    load_pretrained,
    pad_batch,
)

METRIC_CLASSES = {"chnsenticorp": Accuracy}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    model = parser.add_argument_group("model")
    model.add_argument("--model_type", required=True, choices=list(MODEL_CLASSES), help="encoder family")
    model.add_argument("--model_name_or_path", required=True,
                       help="PaddleNLP name (ernie-gram-zh, ernie-1.0, bert-base-chinese; downloaded) or local dir")
    data = parser.add_argument_group("data")
    data.add_argument("--task_name", default="ChnSentiCorp", help="case-insensitive: " + ", ".join(METRIC_CLASSES))
    data.add_argument("--data_dir", help="local folder with train.tsv and dev.tsv instead of PaddleNLP's download")
    data.add_argument("--max_seq_length", type=int, default=128)
    data.add_argument("--skip_invalid", action="store_true", help="skip and count malformed rows instead of failing")
    data.add_argument("--download_timeout", type=float, default=120, help="seconds before a stalled download fails")
    train = parser.add_argument_group("training")
    train.add_argument("--batch_size", type=int, default=32)
    train.add_argument("--learning_rate", type=float, default=5e-5)
    train.add_argument("--num_train_epochs", type=int, default=3)
    train.add_argument("--max_steps", type=int, default=-1, help="if > 0: stop after this many steps")
    train.add_argument("--warmup_proportion", type=float, default=0.1)
    train.add_argument("--weight_decay", type=float, default=0.01)
    train.add_argument("--adam_epsilon", type=float, default=1e-8)
    train.add_argument("--max_grad_norm", type=float, default=1.0)
    train.add_argument("--seed", type=int, default=42)
    train.add_argument("--device", choices=["gpu", "cpu"], default="gpu" if paddle.is_compiled_with_cuda() else "cpu")
    output = parser.add_argument_group("logging and saving")
    output.add_argument("--logging_steps", type=int, default=100)
    output.add_argument("--save_steps", type=int, default=100, help="evaluate on dev (and checkpoint) every N steps")
    output.add_argument("--output_dir", required=True)
    output.add_argument("--resume", action="store_true", help="continue from OUTPUT_DIR/checkpoint")
    args = parser.parse_args(argv)
    args.task_name = args.task_name.lower()
    task_spec(args.task_name)  # unknown task names fail here, listing the choices
    return args


class EncodedDataset(paddle.io.Dataset):
    def __init__(self, pairs, labels):
        self.pairs, self.labels = pairs, labels

    def __len__(self):
        return len(self.pairs)

    def __getitem__(self, i):
        return self.pairs[i], self.labels[i]


def make_collate(pad_id):
    def collate(samples):
        input_ids, token_type_ids = pad_batch([pair for pair, _ in samples], pad_id)
        return input_ids, token_type_ids, np.array([label for _, label in samples], dtype="int64")

    return collate


@paddle.no_grad()
def evaluate(model, loader, metric):
    model.eval()
    metric.reset()
    for input_ids, token_type_ids, labels in loader:
        logits = model(input_ids, token_type_ids=token_type_ids)
        metric.update(metric.compute(logits, labels))
    model.train()
    return float(metric.accumulate())


def save_best(model, tokenizer, args, best_dir, info):
    """Atomically replace best_model with the current weights, tokenizer and teacher_info.json."""

    def write(tmp_dir):
        (model._layers if isinstance(model, paddle.DataParallel) else model).save_pretrained(tmp_dir)
        tokenizer.save_pretrained(tmp_dir)
        write_json(os.path.join(tmp_dir, TEACHER_INFO), info)
        if is_random_init(args.model_name_or_path):
            shutil.copy(os.path.join(args.model_name_or_path, RANDOM_INIT_MARKER), tmp_dir)

    save_dir_atomically(best_dir, write)


def main(argv=None):
    args = parse_args(argv)
    paddle.set_device(args.device)
    world_size, rank = paddle.distributed.get_world_size(), paddle.distributed.get_rank()
    if world_size > 1:
        paddle.distributed.init_parallel_env()
    set_seed(args.seed + rank)
    spec = task_spec(args.task_name)

    # Data
    wanted = ("train", "dev", "test") if args.data_dir else ("train", "dev")  # a local test.tsv is used when present
    splits = load_splits(args.task_name, args.data_dir, wanted, args.skip_invalid, args.download_timeout)
    logger.info(", ".join(f"{split} {len(rows)} rows" for split, rows in splits.items()))

    # Model
    model, tokenizer = load_pretrained(args.model_type, args.model_name_or_path, len(spec["labels"]))
    random_init = is_random_init(args.model_name_or_path)
    if random_init:
        logger.warning("!" * 100)
        logger.warning("%s holds RANDOM weights, not a pretrained model: this teacher is UNTRAINED and its accuracy "
                       "says nothing about ERNIE-Gram. Use it only to test the pipeline offline.", args.model_name_or_path)
        logger.warning("!" * 100)
    if world_size > 1:
        model = paddle.DataParallel(model)

    def loader(split, shuffle):
        pairs = encode(tokenizer, [e.text for e in splits[split]], args.max_seq_length)
        dataset = EncodedDataset(pairs, [e.label for e in splits[split]])
        sampler = (paddle.io.DistributedBatchSampler(dataset, args.batch_size, shuffle=True) if shuffle
                   else paddle.io.BatchSampler(dataset, batch_size=args.batch_size * 2))
        return paddle.io.DataLoader(dataset, batch_sampler=sampler, collate_fn=make_collate(tokenizer.pad_token_id))

    train_loader, dev_loader = loader("train", True), loader("dev", False)
    steps_per_epoch = len(train_loader)
    total_steps = args.max_steps if args.max_steps > 0 else steps_per_epoch * args.num_train_epochs
    num_epochs = math.ceil(total_steps / steps_per_epoch)

    lr_scheduler = LinearDecayWithWarmup(args.learning_rate, total_steps, args.warmup_proportion)
    no_decay = {p.name for n, p in model.named_parameters() if "bias" in n or "norm" in n}
    optimizer = paddle.optimizer.AdamW(
        learning_rate=lr_scheduler,
        parameters=model.parameters(),
        weight_decay=args.weight_decay,
        epsilon=args.adam_epsilon,
        apply_decay_param_fun=lambda name: name not in no_decay,
        grad_clip=paddle.nn.ClipGradByGlobalNorm(args.max_grad_norm),
    )
    loss_fn = paddle.nn.CrossEntropyLoss()
    metric = METRIC_CLASSES[args.task_name]()

    # Resume
    ckpt_dir, best_dir = os.path.join(args.output_dir, "checkpoint"), os.path.join(args.output_dir, "best_model")
    state = {"global_step": 0, "best_accuracy": -1.0, "best_step": 0, "loss_history": []}
    resumed = load_checkpoint(ckpt_dir, model, optimizer) if args.resume else None
    if resumed:
        state = resumed
        logger.info("resumed from %s at step %d (best dev accuracy %.4f)", ckpt_dir, state["global_step"],
                    state["best_accuracy"])
    elif args.resume:
        logger.warning("--resume: no checkpoint in %s, starting from scratch", ckpt_dir)

    # Training loop
    global_step, start_time = state["global_step"], time.time()
    progress = Progress(total_steps, global_step)
    model.train()
    logger.info("training %d steps (%d per epoch, %d epoch(s)), batch %d, %d device(s)", total_steps,
                steps_per_epoch, num_epochs, args.batch_size, world_size)
    for epoch in range(global_step // steps_per_epoch, num_epochs):
        train_loader.batch_sampler.set_epoch(args.seed * 1000 + epoch)  # reproducible order, also after --resume
        for batch_index, (input_ids, token_type_ids, labels) in enumerate(train_loader):
            if epoch * steps_per_epoch + batch_index < global_step:
                continue  # already trained before --resume
            loss = loss_fn(model(input_ids, token_type_ids=token_type_ids), labels)
            loss.backward()
            optimizer.step()
            lr_scheduler.step()
            optimizer.clear_grad()
            global_step += 1

            if global_step % args.logging_steps == 0:
                state["loss_history"].append([global_step, round(float(loss), 5)])
                logger.info("%s, lr %.2e", progress.line(global_step, epoch + 1, float(loss)), lr_scheduler.get_lr())
            if global_step % args.save_steps == 0 or global_step == total_steps:
                accuracy = evaluate(model, dev_loader, metric)
                improved = accuracy > state["best_accuracy"]
                if improved:
                    state.update(best_accuracy=accuracy, best_step=global_step)
                logger.info("step %d: dev accuracy %.4f (best %.4f at step %d)", global_step, accuracy,
                            state["best_accuracy"], state["best_step"])
                state["global_step"] = global_step
                if rank == 0:
                    if improved:
                        save_best(model, tokenizer, args, best_dir, {
                            "model_type": args.model_type, "init_from": args.model_name_or_path,
                            "pretrained": not random_init, "task_name": args.task_name, "labels": spec["labels"],
                            "label_names": spec["label_names"], "max_seq_length": args.max_seq_length,
                            "step": global_step, "epoch": epoch + 1, "dev_accuracy": accuracy,
                        })
                    save_checkpoint(ckpt_dir, model, optimizer, state)
            if global_step >= total_steps:
                break

    # Save
    if rank == 0:
        test_accuracy = None
        if "test" in splits and min(e.label for e in splits["test"]) >= 0:  # a labelled test split: score best_model
            best_weights = paddle.load(os.path.join(best_dir, "model_state.pdparams"))
            (model._layers if isinstance(model, paddle.DataParallel) else model).set_state_dict(best_weights)
            test_accuracy = evaluate(model, loader("test", False), metric)
            logger.info("best model (step %d): test accuracy %.4f", state["best_step"], test_accuracy)
        metrics = {"best_dev_accuracy": state["best_accuracy"], "best_step": state["best_step"],
                   "test_accuracy": test_accuracy,
                   "steps": global_step, "loss_history": state["loss_history"], "wall_time_s": round(time.time() - start_time, 1),
                   "pretrained": not random_init, "args": vars(args)}
        write_json(os.path.join(args.output_dir, "train_metrics.json"), metrics)
        logger.info("best dev accuracy %.4f at step %d; teacher saved in %s", state["best_accuracy"],
                    state["best_step"], best_dir)
    return state


if __name__ == "__main__":
    sys.exit(run_cli(main))
