"""Fill PaddleNLP's model cache so the unchanged `--model_name_or_path ernie-gram-zh` loads with no network.

    python scripts/fill_paddlenlp_cache.py --vocab_file ../shared/data/ernie-gram-zh/vocab.txt \\
        --weights model_state.pdparams           # the real weights, downloaded elsewhere
    python scripts/fill_paddlenlp_cache.py --vocab_file ../shared/data/ernie-gram-zh/vocab.txt --random_weights

PaddleNLP looks for `$PPNLP_HOME/models/ernie-gram-zh/model_state.pdparams` (keys prefixed `ernie_gram.`) and
`vocab.txt` there before it downloads anything (PPNLP_HOME defaults to ~/.paddlenlp). Firewalled users copy the two
files in once; `--random_weights` writes base-shape RANDOM weights instead, to check the offline path (the tests do).
"""
import os
import shutil
import sys

from ernie_distill.cli import ArgumentParser, run_cli
from ernie_distill.errors import InputError

import paddle  # after ernie_distill, which quiets Paddle's import-time warnings


def main(argv=None):
    parser = ArgumentParser(__doc__)
    parser.add_argument("--vocab_file", required=True, help="ernie-gram-zh's vocab.txt")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--weights", help="ernie-gram-zh's model_state.pdparams")
    source.add_argument("--random_weights", action="store_true", help="base-shape random weights (offline checks)")
    parser.add_argument("--ppnlp_home", default=os.environ.get("PPNLP_HOME", os.path.expanduser("~/.paddlenlp")))
    args = parser.parse_args(argv)
    for path in (args.vocab_file, args.weights):
        if path and not os.path.isfile(path):
            raise InputError(f"{path}: file not found")
    target = os.path.join(args.ppnlp_home, "models", "ernie-gram-zh")
    os.makedirs(target, exist_ok=True)
    shutil.copy(args.vocab_file, os.path.join(target, "vocab.txt"))
    weights = os.path.join(target, "model_state.pdparams")
    if args.weights:
        shutil.copy(args.weights, weights)
    else:
        from paddlenlp.transformers import ErnieGramConfig, ErnieGramModel

        paddle.seed(0)
        state = ErnieGramModel(ErnieGramConfig()).state_dict()
        paddle.save({f"ernie_gram.{name}": value for name, value in state.items()}, weights)
        print("wrote RANDOM base-shape weights: loading works, accuracy means nothing", file=sys.stderr)
    print(target)


if __name__ == "__main__":
    sys.exit(run_cli(main))
