"""Train the Bi-LSTM student: on hard labels (the baseline), or distilled from a fine-tuned teacher (Tang et al. 2019).

    python distill_lstm.py --data_dir DIR --output_dir tmp/student-hard --device cpu
    python distill_lstm.py --data_dir DIR --output_dir tmp/student-distill --teacher_dir tmp/ChnSentiCorp/best_model

With --teacher_dir the student learns the teacher's logits (MSE by default) on a transfer set of the training texts
plus augmented copies (masking, POS-guided replacement, n-gram sampling). Writes OUTPUT_DIR/best_model (the dir
export_model.py takes), OUTPUT_DIR/checkpoint (for --resume) and OUTPUT_DIR/metrics.json.
"""
import argparse
import os
import sys
import time

import numpy as np
import paddle
from tqdm import tqdm

from ernie_distill.checkpoint import load_checkpoint, save_checkpoint, set_seed
from ernie_distill.data import DataError, load_splits, task_spec
from ernie_distill.cli import run_cli
from ernie_distill.atomic import save_dir_atomically, write_json
from ernie_distill.log import Progress, logger
from ernie_distill.losses import distillation_loss
from ernie_distill.student import BiLSTMClassifier, num_parameters, save_student
from ernie_distill.vocab import MASK, Vocab, detokenize, pad_ids, tokenize


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    data = parser.add_argument_group("data")
    data.add_argument("--task_name", default="ChnSentiCorp")
    data.add_argument("--data_dir", help="folder with train.tsv and dev.tsv (default: PaddleNLP's download)")
    data.add_argument("--max_seq_length", type=int, default=128, help="student tokens per text")
    data.add_argument("--skip_invalid", action="store_true", help="skip and count malformed rows instead of failing")
    data.add_argument("--download_timeout", type=float, default=120)
    data.add_argument("--vocab_min_freq", type=int, default=2)
    data.add_argument("--vocab_max_size", type=int, default=30000)
    model = parser.add_argument_group("student model")
    model.add_argument("--embedding_dim", type=int, default=200)
    model.add_argument("--hidden_size", type=int, default=128)
    model.add_argument("--num_layers", type=int, default=1)
    model.add_argument("--dropout", type=float, default=0.3)
    distill = parser.add_argument_group("distillation (only with --teacher_dir)")
    distill.add_argument("--teacher_dir", help="run_glue.py's best_model; omit to train on hard labels")
    distill.add_argument("--alpha", type=float, default=0.0, help="weight of the hard-label loss (paper: 0)")
    distill.add_argument("--distill_loss", choices=["mse", "kl"], default="mse")
    distill.add_argument("--temperature", type=float, default=1.0, help="for --distill_loss kl")
    distill.add_argument("--n_iter", type=int, default=20, help="augmented copies per training example")
    distill.add_argument("--p_mask", type=float, default=0.1)
    distill.add_argument("--p_pos", type=float, default=0.1)
    distill.add_argument("--p_ng", type=float, default=0.25)
    distill.add_argument("--max_ngram", type=int, default=5)
    distill.add_argument("--teacher_batch_size", type=int, default=64)
    distill.add_argument("--cache_dir", default="./tmp/cache", help="where transfer sets and teacher logits are kept")
    train = parser.add_argument_group("training")
    train.add_argument("--batch_size", type=int, default=32)
    train.add_argument("--learning_rate", type=float, default=1e-3)
    train.add_argument("--num_epochs", type=int, default=6)
    train.add_argument("--max_grad_norm", type=float, default=5.0)
    train.add_argument("--lr_schedule", choices=["linear", "constant"], default="linear",
                       help="linear: decay to zero over the run")
    train.add_argument("--weight_decay", type=float, default=0.01, help="AdamW's decoupled weight decay")
    train.add_argument("--word_dropout", type=float, default=0.1, help="chance a word becomes [UNK] in training")
    train.add_argument("--eval_steps", type=int, default=0, help="also evaluate every N steps (0: once per epoch)")
    train.add_argument("--seed", type=int, default=42)
    train.add_argument("--device", choices=["gpu", "cpu"], default="gpu" if paddle.is_compiled_with_cuda() else "cpu")
    output = parser.add_argument_group("saving")
    output.add_argument("--output_dir", required=True)
    output.add_argument("--resume", action="store_true", help="continue from OUTPUT_DIR/checkpoint")
    return parser.parse_args(argv)


def length_bucketed_batches(lengths, batch_size, rng, window=50):
    """Shuffled batches of similar-length rows: sorting inside windows of `window` batches cuts LSTM padding."""
    order = rng.permutation(len(lengths))
    batches = []
    for start in range(0, len(order), batch_size * window):
        chunk = sorted(order[start : start + batch_size * window], key=lambda i: lengths[i])
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


@paddle.no_grad()
def evaluate(model, id_lists, labels, batch_size=128):
    model.eval()
    order = np.argsort([len(ids) for ids in id_lists], kind="stable")
    correct = 0
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        input_ids, seq_len = pad_ids([id_lists[i] for i in rows])
        predictions = model(paddle.to_tensor(input_ids), paddle.to_tensor(seq_len)).argmax(axis=1).numpy()
        correct += int((predictions == np.asarray(labels)[rows]).sum())
    model.train()
    return correct / len(id_lists)


def main(argv=None):
    args = parse_args(argv)
    paddle.set_device(args.device)
    set_seed(args.seed)
    spec = task_spec(args.task_name)
    start_time = time.time()
    os.makedirs(args.output_dir, exist_ok=True)
    mode = "distill" if args.teacher_dir else "hard_labels"
    teacher_info = None
    if args.teacher_dir:  # the teacher code (and PaddleNLP) is only needed, and imported, when distilling
        from ernie_distill.teacher import load_teacher, predict_logits, read_teacher_info
        from ernie_distill.transfer_set import cache_key, load_or_build

        teacher_info = read_teacher_info(args.teacher_dir)
        if teacher_info["labels"] != spec["labels"]:
            raise DataError(f"the teacher in {args.teacher_dir} predicts labels {teacher_info['labels']}, "
                            f"but task {args.task_name} has labels {spec['labels']}")
        if not teacher_info.get("pretrained", True):
            logger.warning("the teacher in %s was fine-tuned from RANDOM weights (not pretrained): it cannot show "
                           "the real gain of distillation", args.teacher_dir)

    # Data: jieba words, and the vocabulary built from the training texts
    splits = load_splits(args.task_name, args.data_dir, ("train", "dev"), args.skip_invalid, args.download_timeout)
    train_words = [tokenize(e.text) for e in tqdm(splits["train"], desc="tokenizing train", mininterval=2)]
    train_labels = [e.label for e in splits["train"]]
    vocab = Vocab.build(train_words, args.vocab_min_freq, args.vocab_max_size)
    logger.info("train %d rows, dev %d rows, vocabulary %d words", len(train_words), len(splits["dev"]), len(vocab))

    teacher_logits = None
    if args.teacher_dir:
        settings = dict(n_iter=args.n_iter, p_mask=args.p_mask, p_pos=args.p_pos, p_ng=args.p_ng,
                        max_ngram=args.max_ngram, seed=args.seed, teacher_max_seq_length=teacher_info["max_seq_length"])

        def run_teacher(word_lists):
            model, tokenizer, _ = load_teacher(args.teacher_dir)
            texts = [detokenize([tokenizer.mask_token if w == MASK else w for w in words]) for words in word_lists]
            with tqdm(total=len(texts), desc="teacher logits", mininterval=5) as bar:
                return predict_logits(model, tokenizer, texts, teacher_info["max_seq_length"],
                                      args.teacher_batch_size, bar)

        key = cache_key(args.teacher_dir, train_words, train_labels, settings)
        train_words, train_labels, teacher_logits = load_or_build(args.cache_dir, key, train_words, train_labels,
                                                                  settings, run_teacher)
    train_ids = [vocab.encode(words, args.max_seq_length) for words in train_words]
    train_labels = np.asarray(train_labels, dtype="int64")
    dev_ids = [vocab.encode(tokenize(e.text), args.max_seq_length) for e in splits["dev"]]
    dev_labels = [e.label for e in splits["dev"]]

    # Model (seeded here, so a run that loaded cached logits builds the same student as one that ran the teacher)
    set_seed(args.seed)
    model = BiLSTMClassifier(len(vocab), len(spec["labels"]), args.embedding_dim, args.hidden_size, args.num_layers,
                             args.dropout)
    n_params = num_parameters(model)
    logger.info("student: %s, %.2fM parameters (%.1f MB in float32)", model.config, n_params / 1e6, n_params * 4 / 2**20)
    lengths = [len(ids) for ids in train_ids]
    steps_per_epoch = len(length_bucketed_batches(lengths, args.batch_size, np.random.default_rng(0)))
    total_steps = steps_per_epoch * args.num_epochs
    # linear decay to zero: the small student overfits a 9.6k-row set quickly at a constant rate
    lr_scheduler = (paddle.optimizer.lr.PolynomialDecay(args.learning_rate, total_steps, end_lr=0.0)
                    if args.lr_schedule == "linear" else args.learning_rate)
    optimizer = paddle.optimizer.AdamW(learning_rate=lr_scheduler, parameters=model.parameters(),
                                       weight_decay=args.weight_decay,
                                       grad_clip=paddle.nn.ClipGradByGlobalNorm(args.max_grad_norm))

    # Resume
    ckpt_dir, best_dir = os.path.join(args.output_dir, "checkpoint"), os.path.join(args.output_dir, "best_model")
    state = {"global_step": 0, "best_accuracy": -1.0, "best_epoch": 0, "best_step": 0}
    resumed = load_checkpoint(ckpt_dir, model, optimizer) if args.resume else None
    if resumed:
        state = resumed
        logger.info("resumed from %s at step %d", ckpt_dir, state["global_step"])
    elif args.resume:
        logger.warning("--resume: no checkpoint in %s, starting from scratch", ckpt_dir)

    def evaluate_and_save(epoch):
        accuracy = evaluate(model, dev_ids, dev_labels)
        if accuracy > state["best_accuracy"]:
            save_best(epoch, accuracy)
        logger.info("epoch %d, step %d: dev accuracy %.4f (best %.4f, epoch %d)", epoch, state["global_step"],
                    accuracy, state["best_accuracy"], state["best_epoch"])

    def save_best(epoch, accuracy):
        state.update(best_accuracy=accuracy, best_epoch=epoch, best_step=state["global_step"])
        info = {"mode": mode, "task_name": args.task_name.lower(), "labels": spec["labels"],
                "label_names": spec["label_names"], "max_seq_length": args.max_seq_length,
                "dev_accuracy": accuracy, "epoch": epoch, "step": state["global_step"], "num_parameters": n_params,
                "teacher_dir": args.teacher_dir, "teacher": teacher_info}
        save_dir_atomically(best_dir, lambda tmp_dir: save_student(model, vocab, info, tmp_dir))

    # Training loop
    progress, last_loss = Progress(total_steps, state["global_step"]), float("nan")
    model.train()
    logger.info("mode %s: %d training examples, %d steps (%d epochs)", mode, len(train_ids), total_steps,
                args.num_epochs)
    for epoch in range(state["global_step"] // steps_per_epoch + 1, args.num_epochs + 1):
        epoch_rng = np.random.default_rng(args.seed * 1000 + epoch)  # same batches and dropout after --resume
        batches = length_bucketed_batches(lengths, args.batch_size, epoch_rng)
        bar = tqdm(batches, desc=f"epoch {epoch}/{args.num_epochs}", mininterval=5, leave=False)
        for batch_index, rows in enumerate(bar):
            if (epoch - 1) * steps_per_epoch + batch_index < state["global_step"]:
                continue  # already trained before --resume
            input_ids, seq_len = pad_ids([train_ids[i] for i in rows])
            if args.word_dropout:  # words become [UNK] at random: the student cannot lean on a few frequent words
                dropped = (epoch_rng.random(input_ids.shape) < args.word_dropout) & (input_ids != 0)
                input_ids = np.where(dropped, vocab.unk_id, input_ids)
            logits = model(paddle.to_tensor(input_ids), paddle.to_tensor(seq_len))
            targets = None if teacher_logits is None else paddle.to_tensor(teacher_logits[rows])
            loss = distillation_loss(logits, paddle.to_tensor(train_labels[rows]), targets, args.alpha,
                                     args.distill_loss, args.temperature)
            loss.backward()
            optimizer.step()
            optimizer.clear_grad()
            if args.lr_schedule == "linear":
                lr_scheduler.step()
            state["global_step"] += 1
            last_loss = float(loss)
            bar.set_postfix(loss=f"{last_loss:.4f}", refresh=False)
            if args.eval_steps and state["global_step"] % args.eval_steps == 0:
                evaluate_and_save(epoch)
        logger.info(progress.line(state["global_step"], epoch, last_loss))
        evaluate_and_save(epoch)
        save_checkpoint(ckpt_dir, model, optimizer, state)

    # Save
    metrics = {"mode": mode, "dev_accuracy": state["best_accuracy"], "best_epoch": state["best_epoch"],
               "num_parameters": n_params, "model_size_mb": round(n_params * 4 / 2**20, 2),
               "vocab_size": len(vocab), "train_examples": len(train_ids), "steps": state["global_step"],
               "wall_time_s": round(time.time() - start_time, 1), "teacher": teacher_info, "args": vars(args)}
    write_json(os.path.join(args.output_dir, "metrics.json"), metrics)
    logger.info("best dev accuracy %.4f (epoch %d); student saved in %s", state["best_accuracy"], state["best_epoch"],
                best_dir)
    return metrics


if __name__ == "__main__":
    sys.exit(run_cli(main))
