"""The cheap peers a practitioner would try first, measured like the student: char TF-IDF + LogisticRegression and
fastText (characters; jieba words with bigrams). Trained on train, tuned on dev only; out of domain only scored.

    pip install -e ".[bench]"                  # scikit-learn, fastText: benchmark-only extras
    python scripts/benchmark_peers.py --output_dir tmp/benchmark-peers

Prints a Markdown table (dev and out-of-domain accuracy, size, training time, end-to-end texts/s on one process,
featurization included) and writes OUTPUT_DIR/peers.json.
"""
import os
import pickle
import sys
import tempfile
import time

import numpy as np

from ernie_distill.atomic import write_json
from ernie_distill.cli import ArgumentParser, run_cli
from ernie_distill.data.reading import load_splits, load_task, read_tsv
from ernie_distill.errors import InputError
from ernie_distill.training.scores import classification_scores
from ernie_distill.models.vocab import tokenize

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(ROOT, "..", "shared", "data")
TFIDF_C = (10, 30, 100, 300, 1000)
FASTTEXT_GRID = [dict(epoch=e, lr=lr, wordNgrams=n) for e in (10, 25) for lr in (0.1, 0.5) for n in (2, 3)]


def chars(text):
    return " ".join(c for c in text.lower() if not c.isspace())


def words(text):
    return " ".join(tokenize(text))


def fit_tfidf(train, dev, grid):
    """Char 1-3-gram TF-IDF + LogisticRegression, C chosen on dev: (vectorizer, classifier, "C=...")."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), min_df=2, sublinear_tf=False, lowercase=True)
    x_train, x_dev = vectorizer.fit_transform([e.text for e in train]), vectorizer.transform([e.text for e in dev])
    y_train, y_dev = [e.label for e in train], np.array([e.label for e in dev])
    def classifier(c):  # liblinear is binary: one-vs-rest beyond two classes, as scikit-learn used to do by itself
        model = LogisticRegression(C=c, solver="liblinear", max_iter=1000)
        return model if len(set(y_train)) == 2 else OneVsRestClassifier(model)

    fitted = [(classifier(c).fit(x_train, y_train), c) for c in grid]
    model, c = max(fitted, key=lambda m: (m[0].predict(x_dev) == y_dev).mean())
    return vectorizer, model, f"C={c}"


def tfidf(train, dev, grid):
    """fit_tfidf as a peer: (predict(texts) -> ids, size, settings)."""
    vectorizer, model, settings = fit_tfidf(train, dev, grid)
    return lambda texts: model.predict(vectorizer.transform(texts)), len(pickle.dumps((vectorizer, model))), settings


def fasttext_model(train, dev, featurize, grid):
    """fastText supervised on featurize(text), settings chosen on dev; (predict, size on disk, settings)."""
    import fasttext

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "train.txt")
        with open(path, "w", encoding="utf-8") as f:
            f.writelines(f"__label__{e.label} {featurize(e.text)}\n" for e in train)
        dev_texts, dev_y = [e.text for e in dev], np.array([e.label for e in dev])

        def predict_with(model):
            return lambda texts: np.array([int(labels[0][len("__label__"):]) for labels in
                                           model.predict([featurize(t) for t in texts])[0]])

        best = None
        for settings in grid:
            model = fasttext.train_supervised(path, dim=50, minCount=1, seed=0, thread=1, verbose=0, **settings)
            accuracy = (predict_with(model)(dev_texts) == dev_y).mean()
            if best is None or accuracy > best[0]:
                best = (accuracy, model, settings)
        model_path = os.path.join(tmp, "model.bin")
        best[1].save_model(model_path)
        return predict_with(best[1]), os.path.getsize(model_path), ", ".join(f"{k}={v}" for k, v in best[2].items())


def main():
    parser = ArgumentParser(__doc__)
    parser.add_argument("--data_dir", default=os.path.join(SHARED, "chnsenticorp"),
                        help="train.tsv and dev.tsv (and labels.txt for your own task)")
    parser.add_argument("--task_name", default="ChnSentiCorp")
    parser.add_argument("--ood_file", default=os.path.join(SHARED, "online_shopping_dev", "dev.tsv"),
                        help="out-of-domain labelled TSV, scored only ('' to skip)")
    parser.add_argument("--quick", action="store_true", help="one setting per peer (tests)")
    parser.add_argument("--output_dir", default=os.path.join(ROOT, "tmp", "benchmark-peers"))
    args = parser.parse_args()
    try:
        import fasttext  # noqa: F401
        import sklearn  # noqa: F401
    except ImportError as err:
        raise InputError(f"{err.name} is not installed: pip install -e '.[bench]'") from None
    task = load_task(args.task_name, args.data_dir)
    splits = load_splits(task, args.data_dir, ("train", "dev"))
    ood = read_tsv(args.ood_file, task)[0] if args.ood_file else []
    peers = [("char 1-3-gram TF-IDF + LogisticRegression", lambda: tfidf(splits["train"], splits["dev"],
                                                                          TFIDF_C[3:4] if args.quick else TFIDF_C)),
             ("fastText, characters", lambda: fasttext_model(splits["train"], splits["dev"], chars,
                                                            FASTTEXT_GRID[:1] if args.quick else FASTTEXT_GRID)),
             ("fastText, jieba words + bigrams", lambda: fasttext_model(
                 splits["train"], splits["dev"], words,
                 [dict(epoch=10, lr=0.5, wordNgrams=2)] if args.quick else [g for g in FASTTEXT_GRID
                                                                            if g["wordNgrams"] == 2]))]
    rows = []
    for name, build in peers:
        started = time.time()
        predict, size, settings = build()
        train_seconds = time.time() - started
        scored = {split: classification_scores(predict([e.text for e in examples]), [e.label for e in examples],
                                               task.label_names)
                  for split, examples in (("dev", splits["dev"]), ("ood", ood)) if examples}
        texts = [e.text for e in splits["dev"] + ood]
        started = time.perf_counter()
        predict(texts)
        rows.append({"model": name, "settings": settings, "dev_accuracy": scored["dev"]["accuracy"],
                     "dev_macro_f1": scored["dev"]["macro_f1"], "dev_per_class": scored["dev"]["per_class"],
                     "ood_accuracy": scored["ood"]["accuracy"] if "ood" in scored else None,
                     "size_mb": round(size / 2**20, 1),
                     "train_seconds": round(train_seconds, 1),
                     "texts_per_second": round(len(texts) / (time.perf_counter() - started))})
        print(f"{name}: {rows[-1]}", file=sys.stderr, flush=True)
    lines = ["| model | tuned on dev | dev accuracy | dev macro-F1 | out of domain | size | training (with tuning) | "
             "texts/s, 1 process |", "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['model']} | {r['settings']} | {r['dev_accuracy']:.2%} | {r['dev_macro_f1']:.4f} | "
              f"{'n/a' if r['ood_accuracy'] is None else format(r['ood_accuracy'], '.2%')} | {r['size_mb']} MB | "
              f"{r['train_seconds']} s | {r['texts_per_second']} |" for r in rows]
    print("\n".join(lines))
    os.makedirs(args.output_dir, exist_ok=True)
    write_json(os.path.join(args.output_dir, "peers.json"), {"rows": rows, "table": "\n".join(lines)})


if __name__ == "__main__":
    sys.exit(run_cli(main))
