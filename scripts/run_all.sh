#!/usr/bin/env bash
# The whole pipeline: teacher fine-tuning -> student on hard labels -> distilled student -> export -> sample
# predictions -> benchmark -> report (OUTPUT_DIR/report.md).
#
#   bash scripts/run_all.sh                  # full run: needs internet (ernie-gram-zh weights) and a GPU
#   QUICK=1 bash scripts/run_all.sh          # offline on CPU in a few minutes: tiny UNTRAINED teacher, data slice
#   DEVICE=gpu DATA_DIR=... OUTPUT_DIR=... bash scripts/run_all.sh
#   bash scripts/run_all.sh export predict   # only the named steps (they read what earlier steps wrote)
#   DISTILL_ARGS="--num_epochs 3" bash scripts/run_all.sh   # more flags for a step: GLUE_ARGS (teacher), STUDENT_ARGS,
#                                            # DISTILL_ARGS, BENCHMARK_ARGS; they add to QUICK's (a later flag wins)
#
# Steps: teacher, student, distill, export (export-teacher, export-student, export-distill), predict, benchmark,
# report. A step whose outputs are complete and were made by the same command from the same inputs (file contents)
# with the same code (the project's .py files: a changed default leaves the command as it was) is skipped, so a rerun continues where a failed run stopped (an interrupted training step resumes from its
# checkpoint); changed settings or data redo the step and everything after it. FORCE=1 redoes every step. Each step
# logs to OUTPUT_DIR/logs/STEP.log; a failing step stops the script, naming the step and its log.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup_env.sh"
cd "$ROOT"

QUICK="${QUICK:-0}"
DEVICE_FROM_USER="${DEVICE:-}"  # (a full run on a CPU is refused below unless asked for)
TASK_NAME="${TASK_NAME:-}"  # default: the data folder's name when it has labels.txt (your own task), else ChnSentiCorp
# Without DATA_DIR: scripts/download_data.py's folder data/TASK, else the project's own machines' copy
LOCAL_DATA="${LOCAL_DATA_DIR:-$ROOT/data/$(echo "${TASK_NAME:-chnsenticorp}" | tr '[:upper:]' '[:lower:]')}"
SHARED_DATA="${SHARED_DATA_DIR:-$ROOT/../shared/data/chnsenticorp}"
if [ -z "${DATA_DIR:-}" ] && [ -f "$LOCAL_DATA/train.tsv" ] && [ -f "$LOCAL_DATA/dev.tsv" ]; then DATA_DIR="$LOCAL_DATA"; fi
if [ -z "${DATA_DIR:-}" ] && [ -f "$SHARED_DATA/train.tsv" ]; then DATA_DIR="$SHARED_DATA"; fi
MODEL_TYPE="${MODEL_TYPE:-ernie-gram}"
MAX_SEQ_LENGTH="${MAX_SEQ_LENGTH:-128}"
if [ "$QUICK" = 1 ]; then
  DEVICE="${DEVICE:-cpu}"
  OUTPUT_DIR="${OUTPUT_DIR:-./tmp/quick}"
  MODEL_NAME="${MODEL_NAME:-$OUTPUT_DIR/tiny-teacher-init}"  # made below: random weights, never pretrained
  BATCH_SIZE="${BATCH_SIZE:-32}" LEARNING_RATE="${LEARNING_RATE:-1e-3}" EPOCHS="${EPOCHS:-1}"
  SAVE_STEPS="${SAVE_STEPS:-5}"
  # *_ARGS add to QUICK's settings: given later, a flag of yours wins
  STUDENT_ARGS="--num_epochs 1 ${STUDENT_ARGS:-}"
  DISTILL_ARGS="--num_epochs 1 --n_iter 2 ${DISTILL_ARGS:-}"
  BENCHMARK_ARGS="--max_texts 100 --latency_texts 40 --serve_clients 4 --serve_requests 40 ${BENCHMARK_ARGS:-}"
  TRAIN_ROWS="${TRAIN_ROWS:-400}" DEV_ROWS="${DEV_ROWS:-100}"
else
  DEVICE="${DEVICE:-$(python -c 'from ernie_distill.cli import default_device; print(default_device())')}"
  OUTPUT_DIR="${OUTPUT_DIR:-./tmp/ChnSentiCorp}"
  MODEL_NAME="${MODEL_NAME:-ernie-gram-zh}"
  BATCH_SIZE="${BATCH_SIZE:-24}" LEARNING_RATE="${LEARNING_RATE:-5e-5}" EPOCHS="${EPOCHS:-3}"
  SAVE_STEPS="${SAVE_STEPS:-100}"
  STUDENT_ARGS="${STUDENT_ARGS:-}" DISTILL_ARGS="${DISTILL_ARGS:-}" BENCHMARK_ARGS="${BENCHMARK_ARGS:-}"
fi
LOGS="$OUTPUT_DIR/logs"
EXPORT="$OUTPUT_DIR/export"
mkdir -p "$LOGS"
STEPS=("$@")
CODE_DIGEST="$(python -c 'from ernie_distill.training.loop import code_digest; print(code_digest())')"

selected() {  # is step $1 asked for? (all when none is named; "export" selects export-*)
  [ ${#STEPS[@]} -eq 0 ] && return 0
  local wanted
  for wanted in "${STEPS[@]}"; do
    [ "$1" = "$wanted" ] || [ "${1%%-*}" = "$wanted" ] && return 0
  done
  return 1
}

inputs_digest() {  # one SHA-256 over the named files and folders' contents; a missing path counts as missing
  local path
  for path in "$@"; do
    if [ -d "$path" ]; then (cd "$path" && find . -type f ! -name '.*' -print0 | sort -z | xargs -0 -r sha256sum)
    elif [ -f "$path" ]; then sha256sum < "$path"
    else echo "missing $path"; fi
  done | sha256sum | cut -d' ' -f1
}

step() {  # step NAME OUTPUT_THAT_PROVES_IT_DONE "INPUT PATHS" COMMAND...
  # Skipped when its output exists and the same command ran on the same inputs (contents, not names). With
  # RESUMABLE=1 it continues from its checkpoint only when an interrupted run had that same command and inputs;
  # otherwise it starts fresh, so changed settings or data never resume (or report) an older run.
  local name=$1 done_file=$2 inputs=$3
  shift 3
  selected "$name" || return 0
  local log="$LOGS/$name.log" stamp_file="$LOGS/$name.done" started_file="$LOGS/$name.started" stamp
  # shellcheck disable=SC2086  # the input list is split on purpose
  stamp="$*"$'\n'"inputs $(inputs_digest $inputs)"$'\n'"code $CODE_DIGEST"
  if [ "${FORCE:-0}" != 1 ] && [ -n "$done_file" ] && [ -e "$done_file" ] && [ "$(cat "$stamp_file" 2>/dev/null)" = "$stamp" ]; then
    echo "== $name: already done ($done_file), skipping"
    return 0
  fi
  local command=("$@")
  if [ "${RESUMABLE:-0}" = 1 ] && [ "${FORCE:-0}" != 1 ] && [ "$(cat "$started_file" 2>/dev/null)" = "$stamp" ]; then
    command+=(--resume)
  fi
  rm -f "$stamp_file"
  # the report shows every step's results: once any of them is redone it is out of date until the report step
  # writes it again (a run stopped in between leaves no report rather than the older run's)
  [ "$name" = report ] || rm -f "$OUTPUT_DIR/report.md"
  printf '%s' "$stamp" > "$started_file"
  echo "== $name: ${command[*]}"
  echo "   (log: $log)"
  set +e
  "${command[@]}" 2>&1 | tee "$log"
  local status=${PIPESTATUS[0]}
  set -e
  if [ "$status" -ne 0 ]; then
    echo "run_all.sh: step '$name' failed (exit $status); see $log" >&2
    exit "$status"
  fi
  printf '%s' "$stamp" > "$stamp_file"
}

slice_data() {  # slice_data FROM TO TRAIN_ROWS DEV_ROWS: the first rows of each split, header kept (and labels.txt)
  mkdir -p "$2"
  head -n "$(($3 + 1))" "$1/train.tsv" > "$2/train.tsv"
  head -n "$(($4 + 1))" "$1/dev.tsv" > "$2/dev.tsv"
  if [ -f "$1/labels.txt" ]; then cp "$1/labels.txt" "$2/labels.txt"; else rm -f "$2/labels.txt"; fi
}

if [ "$QUICK" != 1 ] && [ "$DEVICE" = cpu ] && [ "$DEVICE_FROM_USER" != cpu ] && selected teacher \
    && [ ! -e "$OUTPUT_DIR/metrics.json" ]; then
  echo "run_all.sh: no GPU here (Paddle in $(command -v python) sees none): fine-tuning the base-size teacher on a CPU" \
       "takes 30-50 s a step, about 13 h. On a GPU machine, use its Paddle: NO_VENV=1 (README, AI Studio); to check" \
       "the chain, QUICK=1; to run it on this CPU anyway, DEVICE=cpu" >&2
  exit 2
fi

# Data: a local folder (DATA_DIR, else data/TASK when downloaded before), else PaddleNLP's download into data/TASK
# (needs internet); QUICK without either: the repository's own small fixture, offline.
if [ -z "${DATA_DIR:-}" ] && [ "$QUICK" = 1 ]; then  # the small sentiment fixture (240 train, 60 dev texts)
  DATA_DIR="$ROOT/tests/fixtures/easy"
  echo "== data: no DATA_DIR and no $LOCAL_DATA: using $DATA_DIR"
fi
if [ -z "${DATA_DIR:-}" ]; then
  echo "== data: downloading ${TASK_NAME:-ChnSentiCorp} with PaddleNLP into $LOCAL_DATA (set DATA_DIR to use local files)"
  DATA_DIR="$(python scripts/download_data.py --task_name "${TASK_NAME:-ChnSentiCorp}" --output_dir "$LOCAL_DATA")" || {
    echo "run_all.sh: could not download the data; set DATA_DIR=folder with train.tsv and dev.tsv" >&2; exit 2; }
fi
if [ ! -f "$DATA_DIR/train.tsv" ] || [ ! -f "$DATA_DIR/dev.tsv" ]; then
  echo "run_all.sh: DATA_DIR $DATA_DIR has no train.tsv and dev.tsv: give a folder that has both" >&2
  exit 2
fi
if [ -z "$TASK_NAME" ]; then  # named here, before QUICK's slice of it is made
  if [ -f "$DATA_DIR/labels.txt" ]; then TASK_NAME="$(basename "$(cd "$DATA_DIR" && pwd)")"
  else TASK_NAME=ChnSentiCorp; fi
fi
if [ "$QUICK" = 1 ]; then
  echo "== QUICK mode: tiny RANDOM-INIT teacher, first $TRAIN_ROWS/$DEV_ROWS rows of $DATA_DIR, short training."
  echo "   Its accuracies say nothing about ERNIE-Gram; it checks that the whole chain works."
  step data "$OUTPUT_DIR/data/dev.tsv" "$DATA_DIR" slice_data "$DATA_DIR" "$OUTPUT_DIR/data" "$TRAIN_ROWS" "$DEV_ROWS"
  DATA_DIR="$OUTPUT_DIR/data"
  step tiny-teacher "$MODEL_NAME/teacher_info.json" "$DATA_DIR" \
    python scripts/make_tiny_teacher.py --data_dir "$DATA_DIR" --output_dir "$MODEL_NAME" --task_name "$TASK_NAME" \
    --max_seq_length "$MAX_SEQ_LENGTH"
fi

# shellcheck disable=SC2086  # *_ARGS are word lists on purpose
RESUMABLE=1 step teacher "$OUTPUT_DIR/metrics.json" "$DATA_DIR $MODEL_NAME" \
  python run_glue.py --model_type "$MODEL_TYPE" --model_name_or_path "$MODEL_NAME" --task_name "$TASK_NAME" \
  --data_dir "$DATA_DIR" --max_seq_length "$MAX_SEQ_LENGTH" --batch_size "$BATCH_SIZE" \
  --learning_rate "$LEARNING_RATE" --num_train_epochs "$EPOCHS" --logging_steps 10 --save_steps "$SAVE_STEPS" \
  --output_dir "$OUTPUT_DIR" --device "$DEVICE" ${GLUE_ARGS:-}
# shellcheck disable=SC2086
RESUMABLE=1 step student "$OUTPUT_DIR/student-hard/metrics.json" "$DATA_DIR" \
  python distill_lstm.py --task_name "$TASK_NAME" --data_dir "$DATA_DIR" --output_dir "$OUTPUT_DIR/student-hard" \
  --device "$DEVICE" $STUDENT_ARGS
# shellcheck disable=SC2086
RESUMABLE=1 step distill "$OUTPUT_DIR/student-distill/metrics.json" "$DATA_DIR $OUTPUT_DIR/best_model" \
  python distill_lstm.py --task_name "$TASK_NAME" --data_dir "$DATA_DIR" --output_dir "$OUTPUT_DIR/student-distill" \
  --teacher_dir "$OUTPUT_DIR/best_model" --cache_dir "$OUTPUT_DIR/cache" --device "$DEVICE" $DISTILL_ARGS
step export-teacher "$EXPORT/teacher/manifest.json" "$OUTPUT_DIR/best_model" \
  python export_model.py --model_dir "$OUTPUT_DIR/best_model" --output_path "$EXPORT/teacher" --onnx
step export-student "$EXPORT/student-hard/manifest.json" "$OUTPUT_DIR/student-hard/best_model" \
  python export_model.py --model_dir "$OUTPUT_DIR/student-hard/best_model" --output_path "$EXPORT/student-hard" \
  --quantize int8
step export-distill "$EXPORT/student-distill/manifest.json" "$OUTPUT_DIR/student-distill/best_model" \
  python export_model.py --model_dir "$OUTPUT_DIR/student-distill/best_model" --output_path "$EXPORT/student-distill" \
  --quantize int8
step predict "$LOGS/predict.log" "$EXPORT/student-distill" \
  python predict.py --model_dir "$EXPORT/student-distill" --text "这家酒店的服务非常好，房间干净，下次还会再来。" \
  --text "书的纸张质量太差了，送货也很慢，不推荐购买。" --text "屏幕很漂亮，但是电池续航一般。"
# shellcheck disable=SC2086
step benchmark "$OUTPUT_DIR/benchmark/benchmark.json" "$EXPORT $DATA_DIR/dev.tsv" \
  python scripts/benchmark.py --model "teacher=$EXPORT/teacher" --model "student-hard=$EXPORT/student-hard" \
  --model "student-distill=$EXPORT/student-distill" --input_file "$DATA_DIR/dev.tsv" \
  --output_dir "$OUTPUT_DIR/benchmark" $BENCHMARK_ARGS
step report "" "" python scripts/report.py --output_dir "$OUTPUT_DIR" --device "$DEVICE" --data_dir "$DATA_DIR"
echo "== done: $OUTPUT_DIR/report.md"
