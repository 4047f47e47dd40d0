#!/usr/bin/env bash
# The whole pipeline: teacher fine-tuning -> student on hard labels -> distilled student -> export -> sample
# predictions -> benchmark -> report (OUTPUT_DIR/report.md).
#
#   bash scripts/run_all.sh                  # full run: needs internet (ernie-gram-zh weights) and a GPU
#   QUICK=1 bash scripts/run_all.sh          # offline on CPU in a few minutes: tiny UNTRAINED teacher, data slice
#   DEVICE=gpu DATA_DIR=... OUTPUT_DIR=... bash scripts/run_all.sh
#   bash scripts/run_all.sh export predict   # only the named steps (they read what earlier steps wrote)
#
# Steps: teacher, student, distill, export (export-teacher, export-student, export-distill), predict, benchmark,
# report. A step whose outputs are complete and made with the same command is skipped, so a rerun continues where a
# failed run stopped (training steps also resume from their last checkpoint). FORCE=1 redoes every step. Each step
# logs to OUTPUT_DIR/logs/STEP.log; a failing step stops the script, naming the step and its log.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup_env.sh"
cd "$ROOT"

QUICK="${QUICK:-0}"
SHARED_DATA="$ROOT/../shared/data/chnsenticorp"
if [ -z "${DATA_DIR:-}" ] && [ -f "$SHARED_DATA/train.tsv" ]; then DATA_DIR="$SHARED_DATA"; fi
TASK_NAME="${TASK_NAME:-ChnSentiCorp}"
MODEL_TYPE="${MODEL_TYPE:-ernie-gram}"
MAX_SEQ_LENGTH="${MAX_SEQ_LENGTH:-128}"
if [ "$QUICK" = 1 ]; then
  DEVICE="${DEVICE:-cpu}"
  OUTPUT_DIR="${OUTPUT_DIR:-./tmp/quick}"
  MODEL_NAME="${MODEL_NAME:-$OUTPUT_DIR/tiny-teacher-init}"  # made below: random weights, never pretrained
  BATCH_SIZE="${BATCH_SIZE:-32}" LEARNING_RATE="${LEARNING_RATE:-1e-3}" EPOCHS="${EPOCHS:-1}"
  SAVE_STEPS="${SAVE_STEPS:-5}"
  STUDENT_ARGS="${STUDENT_ARGS:---num_epochs 1}"
  DISTILL_ARGS="${DISTILL_ARGS:---num_epochs 1 --n_iter 2}"
  BENCHMARK_ARGS="${BENCHMARK_ARGS:---max_texts 100 --latency_texts 40 --serve_requests 40}"
  TRAIN_ROWS="${TRAIN_ROWS:-400}" DEV_ROWS="${DEV_ROWS:-100}"
else
  DEVICE="${DEVICE:-$(python -c 'import paddle; print("gpu" if paddle.device.cuda.device_count() else "cpu")')}"
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

selected() {  # is step $1 asked for? (all when none is named; "export" selects export-*)
  [ ${#STEPS[@]} -eq 0 ] && return 0
  local wanted
  for wanted in "${STEPS[@]}"; do
    [ "$1" = "$wanted" ] || [ "${1%%-*}" = "$wanted" ] && return 0
  done
  return 1
}

step() {  # step NAME OUTPUT_THAT_PROVES_IT_DONE COMMAND...
  local name=$1 done_file=$2
  shift 2
  selected "$name" || return 0
  local log="$LOGS/$name.log" stamp="$LOGS/$name.done" command="$*"
  if [ "${FORCE:-0}" != 1 ] && [ -n "$done_file" ] && [ -e "$done_file" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$command" ]; then
    echo "== $name: already done ($done_file), skipping"
    return 0
  fi
  rm -f "$stamp"
  echo "== $name: $command"
  echo "   (log: $log)"
  set +e
  "$@" 2>&1 | tee "$log"
  local status=${PIPESTATUS[0]}
  set -e
  if [ "$status" -ne 0 ]; then
    echo "run_all.sh: step '$name' failed (exit $status); see $log" >&2
    exit "$status"
  fi
  printf '%s' "$command" > "$stamp"
}

slice_data() {  # the first rows of each split, header kept: a quick run's data
  mkdir -p "$2"
  head -n "$((TRAIN_ROWS + 1))" "$1/train.tsv" > "$2/train.tsv"
  head -n "$((DEV_ROWS + 1))" "$1/dev.tsv" > "$2/dev.tsv"
}

# Data: a local folder (DATA_DIR, or ../shared/data when present), else PaddleNLP's download (needs internet).
if [ -z "${DATA_DIR:-}" ]; then
  if [ "$QUICK" = 1 ]; then
    echo "run_all.sh: QUICK=1 runs offline and needs DATA_DIR (a folder with train.tsv and dev.tsv)" >&2
    exit 2
  fi
  echo "== data: downloading $TASK_NAME with PaddleNLP (set DATA_DIR to use local files)"
  DATA_DIR="$(python scripts/download_data.py --task_name "$TASK_NAME")" || {
    echo "run_all.sh: could not download the data; set DATA_DIR=folder with train.tsv and dev.tsv" >&2; exit 2; }
fi
if [ "$QUICK" = 1 ]; then
  echo "== QUICK mode: tiny RANDOM-INIT teacher, first $TRAIN_ROWS/$DEV_ROWS rows of $DATA_DIR, short training."
  echo "   Its accuracies say nothing about ERNIE-Gram; it checks that the whole chain works."
  step data "$OUTPUT_DIR/data/dev.tsv" slice_data "$DATA_DIR" "$OUTPUT_DIR/data"
  DATA_DIR="$OUTPUT_DIR/data"
  step tiny-teacher "$MODEL_NAME/teacher_info.json" \
    python scripts/make_tiny_teacher.py --data_dir "$DATA_DIR" --output_dir "$MODEL_NAME" --task_name "$TASK_NAME" \
    --max_seq_length "$MAX_SEQ_LENGTH"
elif [ "$DEVICE" = cpu ]; then
  echo "run_all.sh: warning: fine-tuning a base-size teacher on CPU takes 30-50 s a step (about 13 h for 3 epochs);" \
       "use DEVICE=gpu, or QUICK=1 to check the chain" >&2
fi

step teacher "$OUTPUT_DIR/train_metrics.json" \
  python run_glue.py --model_type "$MODEL_TYPE" --model_name_or_path "$MODEL_NAME" --task_name "$TASK_NAME" \
  --data_dir "$DATA_DIR" --max_seq_length "$MAX_SEQ_LENGTH" --batch_size "$BATCH_SIZE" \
  --learning_rate "$LEARNING_RATE" --num_train_epochs "$EPOCHS" --logging_steps 10 --save_steps "$SAVE_STEPS" \
  --output_dir "$OUTPUT_DIR" --device "$DEVICE" --resume
# shellcheck disable=SC2086  # *_ARGS are word lists on purpose
step student "$OUTPUT_DIR/student-hard/metrics.json" \
  python distill_lstm.py --task_name "$TASK_NAME" --data_dir "$DATA_DIR" --output_dir "$OUTPUT_DIR/student-hard" \
  --device "$DEVICE" --resume $STUDENT_ARGS
# shellcheck disable=SC2086
step distill "$OUTPUT_DIR/student-distill/metrics.json" \
  python distill_lstm.py --task_name "$TASK_NAME" --data_dir "$DATA_DIR" --output_dir "$OUTPUT_DIR/student-distill" \
  --teacher_dir "$OUTPUT_DIR/best_model" --cache_dir "$OUTPUT_DIR/cache" --device "$DEVICE" --resume $DISTILL_ARGS
step export-teacher "$EXPORT/teacher/manifest.json" \
  python export_model.py --model_dir "$OUTPUT_DIR/best_model" --output_path "$EXPORT/teacher" --onnx
step export-student "$EXPORT/student-hard/manifest.json" \
  python export_model.py --model_dir "$OUTPUT_DIR/student-hard/best_model" --output_path "$EXPORT/student-hard" --onnx
step export-distill "$EXPORT/student-distill/manifest.json" \
  python export_model.py --model_dir "$OUTPUT_DIR/student-distill/best_model" --output_path "$EXPORT/student-distill" \
  --onnx
step predict "$LOGS/predict.log" \
  python predict.py --model_dir "$EXPORT/student-distill" --text "这家酒店的服务非常好，房间干净，下次还会再来。" \
  --text "书的纸张质量太差了，送货也很慢，不推荐购买。" --text "屏幕很漂亮，但是电池续航一般。"
# shellcheck disable=SC2086
step benchmark "$OUTPUT_DIR/benchmark/benchmark.json" \
  python scripts/benchmark.py --model "teacher=$EXPORT/teacher" --model "student-hard=$EXPORT/student-hard" \
  --model "student-distill=$EXPORT/student-distill" --input_file "$DATA_DIR/dev.tsv" \
  --output_dir "$OUTPUT_DIR/benchmark" $BENCHMARK_ARGS
step report "" python scripts/report.py --output_dir "$OUTPUT_DIR" --device "$DEVICE" --data_dir "$DATA_DIR"
echo "== done: $OUTPUT_DIR/report.md"
