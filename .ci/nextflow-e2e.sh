#!/usr/bin/env bash
# End-to-end runs of the pipeline on a real Nextflow (24.10.0, offline), with assertions on what comes out.
#
#   bash .ci/nextflow-e2e.sh            (from anywhere; CI calls it after .venv exists; needs ../shared/tools)
#
# Runs (each under $E2E_TMP, never in the repository):
#   setup     Nextflow (.ci/nextflow/setup-nextflow.sh), the local Docker engine, the cellbench image
#             (.ci/docker-smoke.sh, tagged as params.cellbench_container) and a MultiQC image tagged as
#             the MULTIQC module's container (.ci/e2e/multiqc/), the one-node Slurm cluster
#   replay    tests/test_pipeline_plan.py's plan without Nextflow (.ci/e2e/replay.py): the reference results
#   1 full    -profile test,docker: every expected result (baselines included) = the replay's values,
#             TASKS.md reference values, aggregate, report, MultiQC report
#   2 resume  -resume of run 1: every task CACHED, none executed, results unchanged
#   3 stub    -profile test,docker -stub: completes, every result file name is there
#   4 kill    a subset run killed (SIGTERM, then SIGKILL) after some tasks completed; -resume completes,
#             reuses what was done, results = run 1
#   5 retry   a task failing with exit 137 (.ci/e2e/retry.config) is retried once, with more memory
#   6 config  `nextflow config` for every profile
#   7 slurm   -profile test,slurm,docker on the local cluster (subset): every task an sbatch job that
#             jobcomp.txt records as COMPLETED; results = run 1
#   8 hostile samplesheet values full of shell syntax ($(...), backticks, ;, &&, |) and seeds out of
#             0..4294967295 (.ci/e2e/hostile.py): each run exits non-zero before any task, with one error
#             line naming the sheet, row and column (or --seeds), and no `pwned` file appears; a row per case
#   9 models  -profile test_models (docs/models.md): harmony, scvi and the example model image
#             (containers/model-example, built on the cellbench image) by the container contract; every
#             runner's results carry its provenance, harmony beats the PCA baseline on batch mixing
#             (.ci/e2e/check_models.py); then two broken model containers (exit 3; NaN in the output) each
#             fail with one error line naming the model and the dataset. The scVI image (containers/scvi)
#             is built only with E2E_SCVI_IMAGE=1 (its build takes longer than CI's budget); otherwise the
#             scvi row runs without a container, from a Python with scvi-tools (E2E_SCVI_PYTHON, or the
#             run's Python if it has it), said loudly, or is left out, said loudly. Without Docker the
#             example model runs from the checkout (a shim on PATH), also said loudly.
#   10 device --metrics_device torch-cpu (the GPU path's torch code on the CPU; conf/metrics_device.config) for
#             pbmc68k_reduced's clustering, embedding and integration, those processes without a container
#             from the run's Python (torch): TASKS.md values, run 1's within 1e-6, versions.device recorded
# A final table lists every run: wall time, task count, status. Exit 1 if any check failed.
# If the Docker engine cannot start, every run goes on without containers (cellbench and multiqc
# from .venv), said loudly; nothing is skipped silently.
#
# Env: E2E_TMP (work folder, default a new /tmp/cellbench-e2e.XXXX; kept on failure or with E2E_KEEP=1),
#      E2E_RUNS (space-separated subset of: replay full resume stub kill retry config slurm hostile models
#      device),
#      E2E_SCVI_IMAGE=1 (build containers/scvi and run the scvi row in it), E2E_SCVI_PYTHON (a python with
#      scvi-tools and cellbench's dependencies for the scvi row without its image),
#      E2E_NO_DOCKER=1 (run without containers), E2E_REQUIRE_DOCKER=1 (an engine that does not start fails
#      the run instead of the loud fallback), PYTHON (default .venv/bin/python),
#      E2E_SLURM_TASKS (tasks of pbmc68k_reduced in the Slurm run, default clustering;embedding;integration).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
t0=$(date +%s)
say() { echo "== nextflow-e2e [$(date +%H:%M:%S) +$(( $(date +%s) - t0 ))s] $*" >&2; }
loud() {
  {
    echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
    for l in "$@"; do echo "!!! $l"; done
    echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
  } >&2
}

python=${PYTHON:-$( [ -x .venv/bin/python ] && echo "$ROOT/.venv/bin/python" || echo python3 )}
check() { "$python" "$ROOT/.ci/e2e/check.py" "$@"; }
tools=$ROOT/../shared/tools
engine=${E2E_DOCKER_ENGINE:-$tools/docker/local-engine.sh}  # E2E_DOCKER_ENGINE=/bin/false tests the fallback
cluster=$tools/slurm/local-cluster.sh
runs=" ${E2E_RUNS:-replay full resume stub kill retry config slurm hostile models device} "
want() { [[ "$runs" == *" $1 "* ]]; }

T=${E2E_TMP:-$(mktemp -d /tmp/cellbench-e2e.XXXX)}
mkdir -p "$T/launch"
export NXF_ANSI_LOG=false NXF_DISABLE_CHECK_LATEST=true
# task commands without containers find cellbench and multiqc in the venv
export PATH="$(dirname "$python"):$PATH"

# ---- bookkeeping: one summary row per run, failures collected, the run goes on
declare -a rows=()
failed=0
started_engine=0
started_cluster=0
nf_pid=""
add_row() { rows+=("$(printf '%-28s %8s %7s  %s' "$1" "$2" "$3" "$4")"); }
fail() { failed=1; say "FAILED: $*"; }

summary() {
  {
    echo
    echo "== nextflow-e2e summary (work folder $T)"
    printf '%-28s %8s %7s  %s\n' run wall tasks status
    printf '%s\n' "${rows[@]}"
    [ -n "${no_docker_note:-}" ] && echo "!!! $no_docker_note"
    echo "== total wall time $(( $(date +%s) - t0 )) s: $([ $failed = 0 ] && echo PASSED || echo FAILED)"
  } >&2
}

cleanup() {
  local rc=$?
  if [ -n "$nf_pid" ] && kill -0 "$nf_pid" 2>/dev/null; then kill -9 "$nf_pid" 2>/dev/null || true; fi
  if [ "$started_cluster" = 1 ]; then say "stopping the Slurm cluster"; "$cluster" stop || true; fi
  if [ "$started_engine" = 1 ]; then
    # containers of killed tasks must not outlive the engine's stop
    docker ps -q --filter name=nxf- 2>/dev/null | xargs -r docker rm -f >/dev/null 2>&1 || true
    say "stopping the Docker engine"; "$engine" stop || true
  fi
  summary
  if [ $failed = 0 ] && [ $rc = 0 ] && [ -z "${E2E_KEEP:-}" ] && [ -z "${E2E_TMP:-}" ]; then
    rm -rf "$T"
  fi
  [ $rc = 0 ] && [ $failed = 0 ] || exit 1
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# nf NAME ARGS...: `nextflow run` of the repository from $T/launch, log and trace under $T/NAME.
# Sets nf_rc, nf_wall; prints the log's tail on failure.
nf() {
  local name=$1; shift
  local d=$T/$name
  mkdir -p "$d"
  local s=$(date +%s)
  say "run $name: nextflow run . ${*}"
  set +e
  (cd "$T/launch" && nextflow -log "$d/nextflow.log" run "$ROOT" -c "$ROOT/.ci/e2e/e2e.config" \
      -with-trace "$d/trace.txt" "$@" >"$d/stdout.txt" 2>&1)
  nf_rc=$?
  set -e
  nf_wall=$(( $(date +%s) - s ))
  if [ $nf_rc != 0 ]; then
    say "run $name: nextflow exited $nf_rc after ${nf_wall}s; last lines of its output:"
    tail -40 "$d/stdout.txt" | sed 's/^/   | /' >&2
  else
    say "run $name: done in ${nf_wall}s ($(tasks "$d/trace.txt") tasks)"
  fi
}
tasks() { [ -s "$1" ] && check count "$1" 2>/dev/null || echo 0; }
# record NAME WALL TASKS CHECK-COMMAND...: run the assertions, add the summary row
record() {
  local name=$1 wall=$2 n=$3; shift 3
  if [ "${nf_rc:-0}" != 0 ]; then
    say "run $name: the assertions anyway, to show what is missing:"
    "$@" || true
    fail "run $name: nextflow exit status $nf_rc"; add_row "$name" "${wall}s" "$n" "FAILED (nextflow exit $nf_rc)"
    return
  fi
  if "$@"; then add_row "$name" "${wall}s" "$n" "ok"
  else fail "run $name: assertions"; add_row "$name" "${wall}s" "$n" "FAILED (assertions)"
  fi
}
checks() { local rc=0; for c in "$@"; do eval "$c" || rc=1; done; return $rc; }

# ================================================================================================ setup
say "setup: Nextflow"
eval "$(bash .ci/nextflow/setup-nextflow.sh)"
nextflow -version 2>&1 | grep -m1 version >&2

use_docker=0
if [ -n "${E2E_NO_DOCKER:-}" ]; then
  loud "E2E_NO_DOCKER is set: EVERY RUN GOES WITHOUT CONTAINERS (cellbench and multiqc from $(dirname "$python"))"
  no_docker_note="NO CONTAINERS: E2E_NO_DOCKER was set"
elif [ ! -x "$engine" ] && ! command -v docker >/dev/null; then
  loud "NO DOCKER: neither $engine nor a docker command exists." \
       "EVERY RUN GOES WITHOUT CONTAINERS (cellbench and multiqc from $(dirname "$python"))."
  no_docker_note="NO CONTAINERS: no Docker engine here, every run went without the docker profile"
  [ -n "${E2E_REQUIRE_DOCKER:-}" ] && { add_row docker 0s - "FAILED (no Docker)"; failed=1; }
else
  s=$(date +%s)
  say "setup: Docker engine"
  engine_ok=1
  if [ -x "$engine" ] && [ -z "${DOCKER_HOST:-}" ]; then
    "$engine" status >/dev/null 2>&1 || started_engine=1
    if out=$("$engine" start); then eval "$out"; else engine_ok=0; fi
  fi
  if [ $engine_ok = 1 ] && docker info >/dev/null 2>&1; then
    use_docker=1
  else
    loud "THE DOCKER ENGINE DID NOT START (see /tmp/cellbench-docker/dockerd.log)." \
         "FALLING BACK: EVERY RUN GOES WITHOUT CONTAINERS (cellbench and multiqc from $(dirname "$python"))." \
         "The docker profile is NOT tested by this run.$([ -n "${E2E_REQUIRE_DOCKER:-}" ] && echo ' E2E_REQUIRE_DOCKER is set: this fails the run.')"
    no_docker_note="NO CONTAINERS: the Docker engine did not start, every run went without the docker profile"
    if [ -n "${E2E_REQUIRE_DOCKER:-}" ]; then
      add_row docker "$(( $(date +%s) - s ))s" - "FAILED (engine did not start; runs without containers)"
      failed=1
    else
      add_row docker "$(( $(date +%s) - s ))s" - "FALLBACK (engine did not start; runs without containers)"
    fi
  fi
fi

if [ $use_docker = 1 ]; then
  s=$(date +%s)
  image=$(sed -n "s/^ *cellbench_container *= *'\(.*\)'.*/\1/p" nextflow.config | head -1)
  image=${image:-ghcr.io/cellbench/cellbench:0.1.0}
  # the MULTIQC module's own container name (not pullable here): a local build is tagged with it
  mqc_image=$(grep -o "'community.wave.seqera.io/library/multiqc:[^']*'" modules/nf-core/multiqc/main.nf | tr -d "'" | head -1)
  mqc_image=${mqc_image:-no-multiqc-container-found-in-modules/nf-core/multiqc/main.nf}
  say "setup: image $image (.ci/docker-smoke.sh) and MultiQC image $mqc_image"
  # MultiQC's image starts from the cellbench image's first stage (Debian, Python 3.11, procps: all
  # cached by the build above), so a change to cellbench's code does not rebuild it
  base_args=()
  docker image inspect local/debian:bookworm-slim >/dev/null 2>&1 && base_args=(--build-arg BASE=local/debian:bookworm-slim)
  if CELLBENCH_IMAGE=$image PYTHON=$python bash .ci/docker-smoke.sh \
      && docker build -q --network host "${base_args[@]}" --target base -f containers/cellbench/Dockerfile \
           -t cellbench-e2e/python-base:latest . >/dev/null 2> >(grep -v -i -e 'legacy builder' -e buildx -e '^ *$' >&2) \
      && bash .ci/e2e/build-multiqc-image.sh cellbench-e2e/python-base:latest "$mqc_image" "$python"; then
    add_row images "$(( $(date +%s) - s ))s" - ok
  else
    loud "THE IMAGES DID NOT BUILD: EVERY RUN GOES WITHOUT CONTAINERS (and this run FAILS)."
    no_docker_note="NO CONTAINERS: the images did not build"
    add_row images "$(( $(date +%s) - s ))s" - "FAILED (build; runs without containers)"
    failed=1
    use_docker=0
  fi
fi
if [ $use_docker = 1 ]; then engine_profile=",docker"; else engine_profile=""; fi

# ================================================================================================ replay
replay_arg=()
if want replay; then
  s=$(date +%s)
  say "replay: the test profile's plan without Nextflow (tests/test_pipeline_plan.py)"
  if "$python" .ci/e2e/replay.py "$T/replay" >"$T/replay.log" 2>&1; then
    n=$(find "$T/replay/work" -mindepth 1 -maxdepth 1 -type d | wc -l)
    add_row replay "$(( $(date +%s) - s ))s" "$n" ok
    replay_arg=(--replay "$T/replay")
  else
    tail -30 "$T/replay.log" | sed 's/^/   | /' >&2
    fail "replay"; add_row replay "$(( $(date +%s) - s ))s" - "FAILED (no reference values: results are compared with TASKS.md only)"
  fi
fi

# ================================================================================================ 1 full
r1_tasks=0
if want full; then
  nf full -profile "test$engine_profile" --outdir "$T/full/out" -w "$T/full/work"
  r1_tasks=$(tasks "$T/full/trace.txt")
  record full "$nf_wall" "$r1_tasks" checks \
    "check trace '$T/full/trace.txt' --completed $r1_tasks" \
    "check results '$T/full/out' ${replay_arg[*]} --reference --multiqc"
fi

# ================================================================================================ 2 resume
if want resume && want full; then
  nf resume -profile "test$engine_profile" --outdir "$T/full/out" -w "$T/full/work" -resume
  record resume "$nf_wall" "$(tasks "$T/resume/trace.txt")" checks \
    "check trace '$T/resume/trace.txt' --all-cached $r1_tasks" \
    "check results '$T/full/out' ${replay_arg[*]} --reference --multiqc"
fi

# ================================================================================================ 3 stub
if want stub; then
  nf stub -profile "test$engine_profile" --outdir "$T/stub/out" -w "$T/stub/work" -stub
  n=$(tasks "$T/stub/trace.txt")
  # as many tasks as run 1 (the stubs take the same paths through the workflow)
  [ "$r1_tasks" != 0 ] && n_expected=$r1_tasks || n_expected=$n
  record stub "$nf_wall" "$n" checks \
    "check trace '$T/stub/trace.txt' --completed $n_expected" \
    "check results '$T/stub/out' --stub --multiqc"
fi

# subsets of the test profile's samplesheets (file paths made absolute), for the shorter runs
sheet() { "$python" .ci/e2e/subset_sheet.py "$@"; }
sheet assets/test_datasets.csv "$T/sheets/small.csv" \
  --datasets hsmm_myoblast_timecourse,baron2016_pancreas_human,baron2016_pancreas_mouse,papalexi2021_thp1_crispr_lowmoi
printf 'models: null\n' >"$T/sheets/no_models.yml"  # no model outputs: the baselines only (an empty sheet is refused)
sheet assets/test_datasets.csv "$T/sheets/pbmc_embedding.csv" --datasets pbmc68k_reduced --tasks embedding
# the Slurm run: pbmc68k_reduced's embedding tasks (label prediction's 45 fold jobs would double its time)
sheet assets/test_datasets.csv "$T/sheets/pbmc_slurm.csv" --datasets pbmc68k_reduced \
  --tasks "${E2E_SLURM_TASKS:-clustering;embedding;integration}"

# ================================================================================================ 4 kill
# a subset (the small datasets: sequential, cross-species, perturbation) killed after a few tasks
kill_only='^(hsmm|baron|papalexi)'
if want kill; then
  d=$T/kill
  mkdir -p "$d"
  kill_args=(-profile "test$engine_profile" --input "$T/sheets/small.csv" -params-file "$T/sheets/no_models.yml"
             --outdir "$d/out" -w "$d/work")
  s=$(date +%s)
  say "run kill: nextflow run . ${kill_args[*]} (in the background; killed after 6 completed tasks)"
  (cd "$T/launch" && exec nextflow -log "$d/nextflow.log" run "$ROOT" -c "$ROOT/.ci/e2e/e2e.config" \
      -with-trace "$d/trace.txt" "${kill_args[@]}" >"$d/stdout.txt" 2>&1) &
  nf_pid=$!
  killed=0
  for _ in $(seq 1 600); do
    kill -0 "$nf_pid" 2>/dev/null || break
    done_n=$(grep -c $'\tCOMPLETED\t' "$d/trace.txt" 2>/dev/null || true)
    if [ "${done_n:-0}" -ge 6 ]; then
      say "run kill: $done_n tasks completed: SIGTERM to nextflow (pid $nf_pid)"
      kill -TERM "$nf_pid"; killed=1
      for _ in $(seq 1 60); do kill -0 "$nf_pid" 2>/dev/null || break; sleep 1; done
      if kill -0 "$nf_pid" 2>/dev/null; then say "run kill: still alive after 60 s: SIGKILL"; kill -KILL "$nf_pid" || true; fi
      break
    fi
    sleep 1
  done
  if [ $killed = 0 ] && kill -0 "$nf_pid" 2>/dev/null; then kill -KILL "$nf_pid" || true; fi  # 10 minutes without 6 tasks
  wait "$nf_pid" 2>/dev/null || true
  nf_pid=""
  if [ $use_docker = 1 ]; then
    left=$(docker ps -q --filter name=nxf- | wc -l)
    say "run kill: nextflow ended; task containers still running: $left"
  fi
  kill_wall=$(( $(date +%s) - s ))
  n_done=$(grep -c $'\tCOMPLETED\t' "$d/trace.txt" 2>/dev/null || true)
  if [ $killed = 0 ]; then
    tail -20 "$d/stdout.txt" | sed 's/^/   | /' >&2
    fail "run kill: the run ended before 6 tasks completed, it was never killed"
    add_row kill "${kill_wall}s" "$(tasks "$d/trace.txt")" "FAILED (not killed)"
  elif [ -s "$d/out/aggregate/aggregate.tsv" ]; then
    fail "run kill: the killed run finished anyway (aggregate.tsv exists)"
    add_row kill "${kill_wall}s" "$(tasks "$d/trace.txt")" "FAILED (finished before the kill)"
  else
    add_row kill "${kill_wall}s" "$(tasks "$d/trace.txt")" "ok (killed, $n_done done)"
    cp "$d/trace.txt" "$d/trace.killed.txt"
    nf kill-resume "${kill_args[@]}" -resume
    checks_kill=("check trace '$T/kill-resume/trace.txt' --min-cached $n_done"
                 "check results '$d/out' --only '$kill_only' ${replay_arg[*]}")
    want full && checks_kill+=("check compare '$T/full/out' '$d/out' --only '$kill_only'")
    record kill-resume "$nf_wall" "$(tasks "$T/kill-resume/trace.txt")" checks "${checks_kill[@]}"
  fi
fi

# ================================================================================================ 5 retry
# every CELLBENCH_EMBEDDING task exits 137 on its first attempt (beforeScript); base.config retries it
retry_only='^pbmc68k_reduced__.*__embedding__'
if want retry; then
  nf retry -profile "test$engine_profile" -c "$ROOT/.ci/e2e/retry.config" \
     --input "$T/sheets/pbmc_embedding.csv" --outdir "$T/retry/out" -w "$T/retry/work"
  checks_retry=("check retry '$T/retry/trace.txt' --process CELLBENCH_EMBEDDING --exit 137"
                "check results '$T/retry/out' --only '$retry_only' ${replay_arg[*]} --reference")
  want full && checks_retry+=("check compare '$T/full/out' '$T/retry/out' --only '$retry_only'")
  record retry "$nf_wall" "$(tasks "$T/retry/trace.txt")" checks "${checks_retry[@]}"
fi

# ================================================================================================ 6 config
if want config; then
  s=$(date +%s)
  bad=()
  for p in test docker podman singularity apptainer conda mamba slurm awsbatch debug gpu; do
    if (cd "$T/launch" && nextflow config "$ROOT" -profile "$p" >"$T/config-${p//,/_}.txt" 2>&1); then
      say "config -profile $p: ok ($(wc -l <"$T/config-${p//,/_}.txt") lines)"
    else
      bad+=("$p"); sed 's/^/   | /' "$T/config-${p//,/_}.txt" | tail -20 >&2
    fi
  done
  # the settings each profile exists for
  grep -q "executor = 'slurm'" "$T/config-slurm.txt" || bad+=("slurm: no executor = 'slurm'")
  grep -q "executor = 'awsbatch'" "$T/config-awsbatch.txt" || bad+=("awsbatch: no executor = 'awsbatch'")
  grep -q "enabled = true" "$T/config-docker.txt" || bad+=("docker: docker.enabled not true")
  grep -q "metrics_device = 'cuda'" "$T/config-gpu.txt" || bad+=("gpu: params.metrics_device not cuda")
  say "nextflow lint does not exist in 24.10: the 25.10 linter (.ci/nflint.sh) is run by .ci/run instead"
  if [ ${#bad[@]} = 0 ]; then add_row config "$(( $(date +%s) - s ))s" 11 ok
  else fail "nextflow config: ${bad[*]}"; add_row config "$(( $(date +%s) - s ))s" 11 "FAILED (${bad[*]})"
  fi
fi

# ================================================================================================ 7 slurm
slurm_only="^pbmc68k_reduced__.*__($(echo "${E2E_SLURM_TASKS:-clustering;embedding;integration}" | tr ';' '|'))__"
if want slurm; then
  s=$(date +%s)
  say "setup: Slurm cluster ($cluster)"
  slurm_ok=1
  if sinfo -h >/dev/null 2>&1; then
    say "a Slurm cluster already answers: using it"
  elif [ -x "$cluster" ]; then
    started_cluster=1
    "$cluster" start >"$T/slurm-start.log" 2>&1 || { slurm_ok=0; cat "$T/slurm-start.log" >&2; }
  else
    slurm_ok=0
  fi
  if [ $slurm_ok = 0 ]; then
    loud "THE SLURM CLUSTER DID NOT START: run 7 (slurm) FAILED"
    fail "slurm cluster"; add_row slurm "$(( $(date +%s) - s ))s" - "FAILED (cluster did not start)"
  else
    jobcomp=${SLURM_LOCAL_DIR:-/tmp/cellbench-slurm}/log/jobcomp.txt
    nf slurm -profile "test,slurm$engine_profile" -c "$ROOT/.ci/e2e/slurm.config" --slurm_queue debug \
       --input "$T/sheets/pbmc_slurm.csv" --outdir "$T/slurm/out" -w "$T/slurm/work"
    sleep 2  # jobcomp is written when slurmctld sees a job end
    checks_slurm=("check slurm '$T/slurm/trace.txt' --jobcomp '$jobcomp'"
                  "check results '$T/slurm/out' --only '$slurm_only' ${replay_arg[*]} --reference --multiqc")
    want full && checks_slurm+=("check compare '$T/full/out' '$T/slurm/out' --only '$slurm_only'")
    record slurm "$nf_wall" "$(tasks "$T/slurm/trace.txt")" checks "${checks_slurm[@]}"
  fi
fi

# ================================================================================================ 8 hostile
# hostile samplesheet values and seeds: .ci/e2e/hostile.py runs each case and asserts it stopped
# before any task with one error line, and ran nothing it was given (tests/test_pipeline_hostile.py: the same)
if want hostile; then
  say "run hostile: hostile samplesheet values and seeds (.ci/e2e/hostile.py, one nextflow run per case)"
  set +e
  "$python" .ci/e2e/hostile.py "$T/hostile" >"$T/hostile.tsv" 2>"$T/hostile.log"
  set -e
  while IFS=$'\t' read -r name wall status detail; do
    if [ "$status" = ok ]; then
      add_row "hostile:$name" "${wall}s" 0 "ok (stopped before any task)"
    else
      fail "hostile $name: $detail"
      add_row "hostile:$name" "${wall}s" - "FAILED (${detail%%; last output*})"
    fi
  done <"$T/hostile.tsv"
  if [ ! -s "$T/hostile.tsv" ]; then
    sed 's/^/   | /' "$T/hostile.log" | tail -20 >&2
    fail "hostile: no case ran"; add_row hostile 0s - "FAILED (see $T/hostile.log)"
  fi
fi

# ================================================================================================ 9 models
# -profile test_models: harmony, scvi and the example model container; then two broken model containers
check_models() { "$python" "$ROOT/.ci/e2e/check_models.py" "$@"; }
if want models; then
  md=$T/models-setup
  mkdir -p "$md/bin" "$md/scvi-bin" "$T/sheets"
  m_datasets=$ROOT/assets/test_models_datasets.csv
  m_sheet=$ROOT/assets/test_models_runners.csv
  ex_image=$(awk -F, 'NR > 1 && $3 == "container" { print $4; exit }' "$m_sheet")
  ex_image=${ex_image:-cellbench-e2e/model-example:latest}
  m_cfg=()
  m_skip=()
  # -- the example model: its image on the cellbench image, or (no Docker) its script on PATH
  if [ $use_docker = 1 ]; then
    s=$(date +%s)
    say "models: building $ex_image (containers/model-example, FROM $image)"
    if docker build -q --network none --build-arg "BASE=$image" -t "$ex_image" containers/model-example >/dev/null \
         2> >(grep -v -i -e 'legacy builder' -e buildx -e '^ *$' >&2); then
      add_row "models:image-example" "$(( $(date +%s) - s ))s" - ok
    else
      fail "models: the example model image did not build"
      add_row "models:image-example" "$(( $(date +%s) - s ))s" - "FAILED (build)"
    fi
  else
    ln -sf "$ROOT/containers/model-example/cellbench_example_model.py" "$md/bin/cellbench-example-model"
    loud "NO DOCKER: the model container rows run WITHOUT their image: cellbench-example-model is" \
         "containers/model-example's script from the checkout, on PATH. The image itself is NOT tested."
    add_row "models:image-example" 0s - "NOT TESTED (no Docker: the script from the checkout)"
  fi
  # -- scvi: in its image (E2E_SCVI_IMAGE=1), else without a container from a Python with scvi-tools, else left out
  scvi_py=${E2E_SCVI_PYTHON:-}
  if [ -z "$scvi_py" ] && "$python" -c 'import scvi' >/dev/null 2>&1; then scvi_py=$python; fi
  if [ $use_docker = 1 ] && [ "${E2E_SCVI_IMAGE:-0}" = 1 ]; then
    s=$(date +%s)
    if BASE=$image PYTHON=$python bash containers/scvi/build.sh; then
      add_row "models:image-scvi" "$(( $(date +%s) - s ))s" - ok
    else
      fail "models: the scvi image did not build"; add_row "models:image-scvi" "$(( $(date +%s) - s ))s" - "FAILED (build)"
    fi
  elif [ -n "$scvi_py" ] && "$scvi_py" -c 'import scvi' >/dev/null 2>&1; then
    printf '#!/bin/sh\nexec %q "$@"\n' "$scvi_py" >"$md/scvi-bin/python3"
    chmod +x "$md/scvi-bin/python3"
    ln -sf "$ROOT/bin/cellbench" "$md/scvi-bin/cellbench"
    cat >"$md/scvi-native.config" <<EOF
// .ci/nextflow-e2e.sh models: the scvi row without the scvi image, cellbench from the checkout run by $scvi_py
process {
    withName: 'CELLBENCH_MODEL_SCVI' {
        container    = ''
        beforeScript = 'export PATH="$md/scvi-bin:\$PATH"'
    }
}
EOF
    m_cfg+=(-c "$md/scvi-native.config")
    loud "THE SCVI IMAGE IS NOT BUILT (containers/scvi: longer than CI's time budget; E2E_SCVI_IMAGE=1 builds it)." \
         "The scvi row runs WITHOUT A CONTAINER, with $scvi_py."
    add_row "models:image-scvi" 0s - "NOT BUILT (scvi row without a container)"
  else
    m_skip+=(scvi)
    loud "THE SCVI ROW IS LEFT OUT: no scvi image (E2E_SCVI_IMAGE=1 builds it) and no Python with scvi-tools" \
         "(E2E_SCVI_PYTHON, or pip install 'cellbench[scvi]' into $(dirname "$python")). scVI is NOT tested."
    add_row "models:scvi" 0s - "LEFT OUT (no scvi image, no scvi-tools)"
  fi
  m_run_sheet=$m_sheet
  if [ ${#m_skip[@]} -gt 0 ]; then
    m_run_sheet=$T/sheets/models_runners.csv
    awk -F, 'NR == 1 || $3 != "scvi"' "$m_sheet" >"$m_run_sheet"
  fi
  skip_args=""
  for m in "${m_skip[@]}"; do skip_args+=" --skip $m"; done

  PATH="$md/bin:$PATH" nf models -profile "test_models$engine_profile" "${m_cfg[@]}" --models "$m_run_sheet" \
    --outdir "$T/models/out" -w "$T/models/work"
  record models "$nf_wall" "$(tasks "$T/models/trace.txt")" checks \
    "check_models results '$T/models/out' --models '$m_run_sheet' --datasets '$m_datasets'$skip_args"

  # two broken models on pbmc68k_reduced (embedding only): the container exits 3 (the run stops, Nextflow's
  # error names the task <dataset>:<model>), or writes NaN (model-check's one Error line; the output is
  # skipped like unusable input data and the others go on)
  sheet "$m_datasets" "$T/sheets/models_pbmc.csv" --datasets pbmc68k_reduced --tasks embedding
  for case in "bad_exit|exit3|MODEL_CONTAINER|3|simulated failure|stops" \
              "bad_nan|nan|CELLBENCH_MODEL_CHECK|1|NaN|any"; do
    IFS='|' read -r bm sim proc code says want_rc <<<"$case"
    printf 'model,dataset,runner,image,command,weights\n%s,pbmc68k_reduced,container,%s,cellbench-example-model --simulate %s,\n' \
      "$bm" "$ex_image" "$sim" >"$T/sheets/models_$bm.csv"
    PATH="$md/bin:$PATH" nf "models-$bm" -profile "test_models$engine_profile" --input "$T/sheets/models_pbmc.csv" \
      --models "$T/sheets/models_$bm.csv" --outdir "$T/models-$bm/out" -w "$T/models-$bm/work"
    n=$(tasks "$T/models-$bm/trace.txt")
    if [ "$want_rc" = stops ] && [ "$nf_rc" = 0 ]; then
      fail "models-$bm: the run exited 0; a model exiting $code must stop it"
      add_row "models-$bm" "${nf_wall}s" "$n" "FAILED (run exited 0)"
    elif check_models failure "$T/models-$bm" --model "$bm" --dataset pbmc68k_reduced --process "$proc" \
           --exit "$code" --says "$says" --outdir "$T/models-$bm/out"; then
      add_row "models-$bm" "${nf_wall}s" "$n" "ok (failed as it must: $proc exit $code, nextflow exit $nf_rc)"
    else
      fail "models-$bm: assertions"; add_row "models-$bm" "${nf_wall}s" "$n" "FAILED (assertions)"
    fi
  done
  nf_rc=0
fi

# ================================================================================================ 10 device
# --metrics_device torch-cpu: the GPU path's torch code (conf/metrics_device.config) on the CPU, through
# the pipeline, for pbmc68k_reduced's clustering, embedding and integration. The three processes run
# without a container (their GPU-path image, --scvi_container, is not built here) from the run's Python,
# which has torch in CI (the scvi extra). Results: TASKS.md's reference values, run 1's within 1e-6, each
# recording versions.device = torch-cpu (run 1's none), and every task's command carries the option.
device_only=$slurm_only
if want device; then
  if "$python" -c 'import torch' >/dev/null 2>&1; then
    mkdir -p "$T/device-setup"
    cat >"$T/device-setup/native.config" <<EOF
// .ci/nextflow-e2e.sh device: the GPU path's processes without their image, from $python (torch)
process {
    withName: 'CELLBENCH_(CLUSTERING|EMBEDDING|INTEGRATION)' {
        container = ''
    }
}
EOF
    loud "run device: the three GPU-path processes run WITHOUT A CONTAINER (their image, --scvi_container," \
         "is not built in CI), with $python and torch on the CPU (--metrics_device torch-cpu)."
    nf device -profile "test$engine_profile" -c "$T/device-setup/native.config" --metrics_device torch-cpu \
       --input "$T/sheets/pbmc_slurm.csv" --outdir "$T/device/out" -w "$T/device/work"
    checks_device=("check results '$T/device/out' --only '$device_only' --reference --multiqc"
                   "check device-commands '$T/device/trace.txt' --process 'CELLBENCH_(CLUSTERING|EMBEDDING|INTEGRATION)' --device torch-cpu")
    want full && checks_device+=("check compare '$T/full/out' '$T/device/out' --only '$device_only' --tol 1e-6 --device torch-cpu")
    record device "$nf_wall" "$(tasks "$T/device/trace.txt")" checks "${checks_device[@]}"
  else
    fail "run device: $python has no torch (pip install '.[gpu]' or '.[scvi]'); the GPU path is NOT tested"
    add_row device 0s - "FAILED (no torch in $python)"
  fi
fi

say "done"
