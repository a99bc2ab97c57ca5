#!/usr/bin/env bash
# Parity check of MetaMix on Omniglot (issue 33, "positive controls"): the authors' reference
# implementation (huaxiuyao/MetaMix, PyTorch, folder omniglot/) against ours, on the same
# characters, splits and slot assignment, in two configurations. docs/parity.md describes the
# protocol, the patch and the remaining differences.
#
#   benchmarks/parity/metamix_omniglot.sh setup                 # reference tree + patch, venv, data
#   benchmarks/parity/metamix_omniglot.sh run CONFIG IMPL METHOD SEED   # one run (skips a finished one)
#   benchmarks/parity/metamix_omniglot.sh grid CONFIG IMPLS SEEDS       # e.g. grid reduced ref,ours 0,1,2
#   benchmarks/parity/metamix_omniglot.sh bench [STEPS [TASKS]] # step / test times -> benchmarks/results/
#       (PARITY_BENCH_CONFIGS="reduced" or "published" for one; bench-report rewrites the JSON)
#   benchmarks/parity/metamix_omniglot.sh compare               # -> docs/results/parity_metamix_omniglot.*
#
# CONFIG: published (run.sh's 1-shot 20-way arguments: 64 filters, 5 inner steps, 10 at test) or
#         reduced (the same with 32 filters and 1 inner step; 10 at test).
# IMPL:   ref (the reference's own main.py: training loop, then its test loop over the checkpoints)
#         or ours (python -m metareg.main). METHOD: maml or metamix (the reference's --mix --shuffle
#         = ours :reference,cs). SEED: our config.seed S = the reference's --trial S.
#
# Environment (defaults in brackets; relative paths are from the repository root):
#   PARITY_STEPS [2000]       outer steps of each run (checkpoint / curve point every 500, or every
#                             PARITY_STEPS when that is not a multiple of 500)
#   PARITY_DATA_DIR [../shared/data]  the project's data.dir (the Omniglot zips)
#   PARITY_WORK [../parity]   scratch outside the repo: ref/ (the exported, patched reference),
#                             venv/ (CPU PyTorch), data/ (the reference's input pickles)
#   PARITY_RESULTS [runs/parity_metamix_omniglot]  logs and results, CONFIG/IMPL/METHOD/seed_S
#   PARITY_REF_GIT [/work/.mirror/huaxiuyao+MetaMix/repo]  a git dir of huaxiuyao/MetaMix
#   PARITY_REF_COMMIT [becf7b4...]  the commit exported (the one the patch was written against)
#   PARITY_THREADS [1]        intra-op threads of PyTorch (OMP/MKL); JAX: see PARITY_CPU
#   PARITY_CPU []             if set, each run is pinned with `taskset -c $PARITY_CPU` (both impls)
#   PARITY_CURVE_TASKS [100]  our curve points' fixed test tasks (and as many training tasks;
#                             600 would match the reference's 601 fresh test tasks per checkpoint
#                             but costs ~1.6 core-hours per run in "reduced"; the final number is
#                             on PARITY_TEST_TASKS fresh tasks either way)
#   PARITY_TEST_TASKS [600]   the reference's --num_test_task and our eval.num_tasks (smoke tests: 5)
#   PARITY_TORCH [torch==2.13.0]  the PyTorch requirement of the venv (pinned: see docs/parity.md)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$REPO"
abspath() { case "$1" in /*) echo "$1" ;; *) echo "$REPO/$1" ;; esac; }

STEPS="${PARITY_STEPS:-2000}"
DATA_DIR="$(abspath "${PARITY_DATA_DIR:-../shared/data}")"
WORK="$(abspath "${PARITY_WORK:-../parity}")"
RESULTS="$(abspath "${PARITY_RESULTS:-runs/parity_metamix_omniglot}")"
REF_GIT="${PARITY_REF_GIT:-/work/.mirror/huaxiuyao+MetaMix/repo}"
REF_COMMIT="${PARITY_REF_COMMIT:-becf7b4}"
THREADS="${PARITY_THREADS:-1}"
CURVE_TASKS="${PARITY_CURVE_TASKS:-100}"
TEST_TASKS="${PARITY_TEST_TASKS:-600}"
TORCH_REQ="${PARITY_TORCH:-torch==2.13.0}"
REF="$WORK/ref/omniglot"
VENV="$WORK/venv"
PDATA="$WORK/data"
OURS_PY="$REPO/.venv/bin/python"

die() { echo "metamix_omniglot.sh: $*" >&2; exit 1; }
pin() { if [ -n "${PARITY_CPU:-}" ]; then echo "taskset -c $PARITY_CPU"; fi; }

# ------------------------------------------------------------------------------------------ setup

export_reference() {
  if ! git --git-dir="$REF_GIT" rev-parse --verify -q "$REF_COMMIT^{commit}" >/dev/null 2>&1; then
    die "no git dir of huaxiuyao/MetaMix at $REF_GIT (commit $REF_COMMIT). Get one with
  git clone https://github.com/huaxiuyao/MetaMix ../MetaMix && export PARITY_REF_GIT=../MetaMix/.git
or, in an agent session, the fetch tool on github:huaxiuyao/MetaMix (a bare mirror under
/work/.mirror/huaxiuyao+MetaMix/repo, the default)."
  fi
  rm -rf "$WORK/ref"
  mkdir -p "$WORK/ref"
  git --git-dir="$REF_GIT" archive "$REF_COMMIT" omniglot | tar -x -C "$WORK/ref"
  patch_reference
  git --git-dir="$REF_GIT" rev-parse "$REF_COMMIT^{commit}" >"$WORK/ref/COMMIT"
}

# The whole patch: CPU instead of CUDA, seeds from --trial, checkpoints / tests for short runs, and
# the two 64-channel constants that --num_filters does not reach. Nothing else changes; each sed is
# checked to have matched (a reference that differs from the commit above is an error).
patch_reference() {
  local m="$REF/main.py" l="$REF/learner.py" s="$REF/maml.py"
  # main.py:47: the code refuses to start without CUDA; this machine has none.
  sed -i 's/^assert torch.cuda.is_available()$/pass  # parity: CPU, the CUDA assert removed/' "$m"
  # main.py:79-80, 128-129, 140 and learner.py:49: `.cuda()` moves tensors / the model to the GPU;
  # without it everything stays on the CPU (the same float32 arithmetic).
  sed -i 's/\.cuda()//g' "$m" "$l"
  # main.py:50-51: fixed seeds (1, 2) and torch unseeded; parity needs several seeds. --trial T
  # seeds random with 1+T and numpy with 2+T (T=0: the published seeds) and torch with T (the
  # initialization, the mix pairing and lambda; unseeded in the original).
  sed -i 's/^random.seed(1)$/random.seed(1 + args.trial)/' "$m"
  sed -i 's/^np.random.seed(2)$/np.random.seed(2 + args.trial)\ntorch.manual_seed(args.trial)/' "$m"
  # main.py:68: checkpoints every 500 steps; PARITY_SAVE_ITER lets a run shorter than 500 steps
  # save (and so test) its last step. Default 500: unchanged.
  sed -i "s/^exp_string = f'MetaMix/SAVE_ITER = int(os.environ.get('PARITY_SAVE_ITER', '500'))\n&/" "$m"
  sed -i 's/^    Save_Iter = 500$/    Save_Iter = SAVE_ITER/' "$m"
  # main.py:153: the test loop evaluates the checkpoints 5000, 5500, ..., 49500 (of a 50,000-step
  # run); here every saved checkpoint of this run, SAVE_ITER .. metatrain_iterations.
  sed -i 's/^        for test_epoch in range(5000, 50000, 500):$/        for test_epoch in range(SAVE_ITER, args.metatrain_iterations + 1, SAVE_ITER):/' "$m"
  # maml.py:13: the head's input width is hard-coded 64 (= num_filters in run.sh); the last block
  # has num_filters channels, so --num_filters 32 would fail. Unchanged at 64.
  sed -i 's/final_layer_size=64)/final_layer_size=args.num_filters)/' "$s"
  # learner.py:74: Channel Shuffle's six channel groups are boundaries of 64 channels; at 32 the
  # groups past channel 32 would be empty (a silent no-op). Scaled to the width, as ours does
  # (metareg/regularizers/channel_shuffle.py, channel_groups). Unchanged at 64.
  sed -i 's/^        concept_idx = \[0, 12, 22, 32, 44, 54, 64\]$/        concept_idx = [round(b * self.hid_dim \/ 64) for b in (0, 12, 22, 32, 44, 54, 64)]/' "$l"

  local want
  for want in "$m:pass  # parity: CPU" "$m:random.seed(1 + args.trial)" \
    "$m:np.random.seed(2 + args.trial)" "$m:torch.manual_seed(args.trial)" \
    "$m:SAVE_ITER = int(os.environ.get" "$m:Save_Iter = SAVE_ITER" \
    "$m:range(SAVE_ITER, args.metatrain_iterations + 1, SAVE_ITER)" \
    "$s:final_layer_size=args.num_filters)" "$l:concept_idx = [round(b * self.hid_dim / 64)"; do
    grep -qF "${want#*:}" "${want%%:*}" || die "patch did not apply to ${want%%:*}: '${want#*:}'"
  done
  if grep -q '\.cuda()\|torch.cuda' "$m" "$l" "$s"; then die "CUDA calls left in $REF"; fi
  touch "$WORK/ref/PATCHED"
}

make_venv() {
  if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import torch, numpy' 2>/dev/null; then
    return
  fi
  python3 -m venv "$VENV"
  # Pinned exactly: a bare `torch` would pull a multi-GB CUDA build (docs/parity.md). The reference
  # imports only torch, numpy and the standard library (no torchvision).
  "$VENV/bin/pip" install -q "$TORCH_REQ" numpy
}

make_data() {
  local seeds="${1:-0,1,2}"
  "$OURS_PY" benchmarks/parity/make_reference_data.py --out "$PDATA" --seeds "$seeds" \
    --data-dir "$DATA_DIR"
}

cmd_setup() {
  [ -x "$OURS_PY" ] || die "no project venv at $REPO/.venv: run 'make install' (or make train) first"
  export_reference
  make_venv
  make_data "${1:-0,1,2}"
  echo "reference: $WORK/ref ($(cat "$WORK/ref/COMMIT")), venv: $VENV, data: $PDATA"
}

need_setup() {
  [ -f "$WORK/ref/PATCHED" ] || die "$REF is missing or unpatched: run '$0 setup' first"
  [ -x "$VENV/bin/python" ] || die "no reference venv at $VENV: run '$0 setup' first"
}

# ------------------------------------------------------------------------------------------- runs

# The reference's arguments: run.sh's 1-shot line (omniglot/run.sh:3), with --datadir, --logdir and
# --metatrain_iterations set here, and --num_filters 32 --num_updates 1 for "reduced".
ref_args() {  # CONFIG METHOD SEED STEPS
  local filters=64 updates=5
  case "$1" in
    published) ;;
    reduced) filters=32 updates=1 ;;
    *) die "unknown CONFIG '$1' (published | reduced)" ;;
  esac
  local a="--datasource=omniglot --metatrain_iterations=$4 --meta_lr=0.001 --update_lr=0.1"
  a="$a --meta_batch_size=8 --update_batch_size=1 --update_batch_size_eval=1 --num_classes=20"
  a="$a --num_filters=$filters --num_updates=$updates --num_updates_test=10 --test_set=1 --trial=$3"
  a="$a --num_test_task=$TEST_TASKS"
  case "$2" in
    maml) ;;
    metamix) a="$a --mix --shuffle" ;;
    *) die "unknown METHOD '$2' (maml | metamix)" ;;
  esac
  echo "$a"
}

# Ours: :reference is the reference protocol point by point (experiments/base.py, _reference);
# MetaMix + Channel Shuffle is the cs token. The same reductions for "reduced".
ours_args() {  # CONFIG METHOD SEED STEPS EVERY
  local exp
  case "$2" in
    maml) exp="experiments/omniglot_maml.py:reference" ;;
    metamix) exp="experiments/omniglot_maml_metamix.py:reference,cs" ;;
    *) die "unknown METHOD '$2' (maml | metamix)" ;;
  esac
  local log=50
  [ $(($5 % 50)) -eq 0 ] || log="$5"
  local a="--config=$exp --config.seed=$3 --config.num_steps=$4 --config.data.dir=$DATA_DIR"
  a="$a --config.log_every=$log --config.checkpoint_every=$5 --config.max_checkpoints=1"
  a="$a --config.eval.every=$5 --config.eval.curve_tasks=$CURVE_TASKS --config.progress_bar=False"
  a="$a --config.eval.num_tasks=$TEST_TASKS"
  # the reference's initialization (PyTorch's defaults), so that initialization is not a
  # difference between the two (docs/parity.md, "Differences that remain")
  a="$a --config.model.conv_init=pytorch"
  case "$1" in
    published) ;;
    reduced) a="$a --config.model.width=32 --config.learner.inner_steps=1" ;;
    *) die "unknown CONFIG '$1' (published | reduced)" ;;
  esac
  echo "$a"
}

every_for() { if [ $(($1 % 500)) -eq 0 ]; then echo 500; else echo "$1"; fi; }

run_ref() {  # CONFIG METHOD SEED DIR
  local dir="$4" every args
  every="$(every_for "$STEPS")"
  args="$(ref_args "$1" "$2" "$3" "$STEPS") --datadir=$PDATA/seed_$3 --logdir=$dir/logdir"
  [ -f "$PDATA/seed_$3/Omniglot/omniglot_train_label_assign.pkl" ] || make_data "$3"
  if grep -q "^test_epoch is $STEPS," "$dir/test.log" 2>/dev/null; then
    echo "done: $dir"; return
  fi
  mkdir -p "$dir"
  echo "$VENV/bin/python main.py $args" >"$dir/command.txt"
  echo "reference $1 $2 seed $3: $dir"
  (
    cd "$REF"
    export OMP_NUM_THREADS="$THREADS" MKL_NUM_THREADS="$THREADS" PARITY_SAVE_ITER="$every"
    local t0=$SECONDS
    if ! grep -q "^TRAIN_DONE" "$dir/train.log" 2>/dev/null; then
      # shellcheck disable=SC2086
      $(pin) "$VENV/bin/python" main.py $args >"$dir/train.log" 2>&1
      echo "TRAIN_DONE $((SECONDS - t0)) s" >>"$dir/train.log"
    fi
    t0=$SECONDS
    # shellcheck disable=SC2086
    $(pin) "$VENV/bin/python" main.py $args --train=0 >"$dir/test.log.tmp" 2>&1
    echo "TEST_DONE $((SECONDS - t0)) s" >>"$dir/test.log.tmp"
    mv "$dir/test.log.tmp" "$dir/test.log"
  )
}

run_ours() {  # CONFIG METHOD SEED DIR
  local dir="$4" every
  every="$(every_for "$STEPS")"
  if [ -f "$dir/results.json" ]; then echo "done: $dir"; return; fi
  mkdir -p "$dir"
  local args
  args="$(ours_args "$1" "$2" "$3" "$STEPS" "$every") --workdir=$dir"
  echo "$OURS_PY -m metareg.main $args" >"$dir/command.txt"
  echo "ours $1 $2 seed $3: $dir"
  # shellcheck disable=SC2086
  $(pin) "$OURS_PY" -m metareg.main $args >>"$dir/train.log" 2>&1
}

cmd_run() {  # CONFIG IMPL METHOD SEED
  [ $# -eq 4 ] || die "usage: $0 run CONFIG IMPL METHOD SEED"
  local dir="$RESULTS/$1/$2/$3/seed_$4"
  ref_args "$1" "$3" "$4" "$STEPS" >/dev/null  # validates CONFIG and METHOD
  case "$2" in
    ref) need_setup; run_ref "$1" "$3" "$4" "$dir" ;;
    ours) run_ours "$1" "$3" "$4" "$dir" ;;
    *) die "unknown IMPL '$2' (ref | ours)" ;;
  esac
}

cmd_grid() {  # CONFIG IMPLS SEEDS: seed-major, MAML then MetaMix, one run at a time
  [ $# -eq 3 ] || die "usage: $0 grid CONFIG IMPLS SEEDS (e.g. reduced ref,ours 0,1,2)"
  local impl seed method
  for seed in ${3//,/ }; do
    for impl in ${2//,/ }; do
      for method in maml metamix; do cmd_run "$1" "$impl" "$method" "$seed"; done
    done
  done
}

# ------------------------------------------------------------------------------------------ bench

# Outer-step times of both implementations, both configurations and both methods, one
# measurement at a time (PARITY_CPU pins them; PyTorch with PARITY_THREADS threads): the
# reference's by ref_step_times.py (the time between its optimizer steps, then between its test
# tasks), ours by ours_times.py (the jitted step a run compiles, then a curve point and the final
# evaluation). Wall clock and process CPU time both; the CPU time is the cost on a loaded machine.
note() { grep -qxF "$2" "$1/commands.txt" 2>/dev/null || echo "$2" >>"$1/commands.txt"; }

cmd_bench() {
  need_setup
  local n="${1:-20}" tasks="${2:-20}" out="$RESULTS/bench" config method every
  mkdir -p "$out"
  { date -u; uptime; } >>"$out/load.txt"
  for config in ${PARITY_BENCH_CONFIGS:-reduced published}; do
    for method in maml metamix; do
      local tag="$config.$method" args
      args="$(ref_args "$config" "$method" 0 "$n") --datadir=$PDATA/seed_0 --logdir=$out/ref_logdir.$tag"
      note "$out" "ref $tag: cd $REF && OMP_NUM_THREADS=$THREADS PARITY_SAVE_ITER=$n $(pin) $VENV/bin/python $REPO/benchmarks/parity/ref_step_times.py --ref $REF --out $out/ref.$tag.json -- $args"
      if [ ! -f "$out/ref.$tag.json" ]; then
        # shellcheck disable=SC2086
        (cd "$REF" && OMP_NUM_THREADS="$THREADS" MKL_NUM_THREADS="$THREADS" PARITY_SAVE_ITER="$n" \
          $(pin) "$VENV/bin/python" "$REPO/benchmarks/parity/ref_step_times.py" --ref "$REF" \
          --out "$out/ref.$tag.json" -- $args) >"$out/ref.$tag.log" 2>&1
      fi
      if [ "$method" = maml ] && [ ! -f "$out/ref_test.$config.json" ]; then
        # the test loop on the checkpoint just saved: time per test task (10 inner steps)
        args="$(ref_args "$config" "$method" 0 "$n" | sed "s/--num_test_task=[0-9]*/--num_test_task=$tasks/")"
        args="$args --datadir=$PDATA/seed_0 --logdir=$out/ref_logdir.$tag --train=0"
        note "$out" "ref test $config: cd $REF && OMP_NUM_THREADS=$THREADS PARITY_SAVE_ITER=$n $(pin) $VENV/bin/python $REPO/benchmarks/parity/ref_step_times.py --ref $REF --out $out/ref_test.$config.json -- $args"
        # shellcheck disable=SC2086
        (cd "$REF" && OMP_NUM_THREADS="$THREADS" MKL_NUM_THREADS="$THREADS" PARITY_SAVE_ITER="$n" \
          $(pin) "$VENV/bin/python" "$REPO/benchmarks/parity/ref_step_times.py" --ref "$REF" \
          --out "$out/ref_test.$config.json" -- $args) >"$out/ref_test.$config.log" 2>&1
      fi
      local exp over eval_flag=""
      exp="$(ours_args "$config" "$method" 0 "$n" "$n" | sed 's/.*--config=\([^ ]*\).*/\1/')"
      over="eval.curve_tasks=$tasks eval.num_tasks=$tasks"
      [ "$config" = reduced ] && over="$over model.width=32 learner.inner_steps=1"
      [ "$method" = metamix ] && eval_flag="--no-eval"  # the test side is the same network
      note "$out" "ours $tag: $(pin) $OURS_PY benchmarks/parity/ours_times.py $exp $over --steps $n $eval_flag --out $out/ours.$tag.json"
      if [ ! -f "$out/ours.$tag.json" ]; then
        # shellcheck disable=SC2086
        $(pin) "$OURS_PY" benchmarks/parity/ours_times.py "$exp" $over --steps "$n" $eval_flag \
          --out "$out/ours.$tag.json" >"$out/ours.$tag.log" 2>&1
      fi
    done
  done
  { date -u; uptime; } >>"$out/load.txt"
  bench_report "$n"
}

bench_report() {  # [STEPS]: benchmarks/results/parity_step_times.json from what the bench wrote
  "$OURS_PY" benchmarks/parity/compare.py bench --bench-dir "$RESULTS/bench" --steps "${1:-20}" \
    --curve-tasks "$CURVE_TASKS" --test-tasks "$TEST_TASKS" \
    --out benchmarks/results/parity_step_times.json
}

cmd_compare() {  # every configuration with finished runs under PARITY_RESULTS
  "$OURS_PY" benchmarks/parity/compare.py report --root "$RESULTS" \
    --out docs/results/parity_metamix_omniglot
}

main() {
  case "${1:-}" in
    setup) shift; cmd_setup "$@" ;;
    run) shift; cmd_run "$@" ;;
    grid) shift; cmd_grid "$@" ;;
    bench) shift; cmd_bench "$@" ;;
    bench-report) shift; bench_report "$@" ;;
    compare) shift; cmd_compare "$@" ;;
    *) sed -n '2,36p' "$0"; exit 2 ;;
  esac
}

# Everything above is parsed before anything runs and nothing is read after this line, so editing
# this file while a long grid runs in the background cannot change that grid.
main "$@"; exit $?
