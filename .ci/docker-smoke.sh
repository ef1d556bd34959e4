#!/usr/bin/env bash
# Build the cellbench image and smoke-test it: `cellbench --help`, then one real task on the bundled
# data inside `docker run --network none`, checked against the TASKS.md reference value.
#
#   bash .ci/docker-smoke.sh            (from anywhere; called by .ci/run)
#
# With ../shared/tools beside the checkout (CI, developer machines without a registry) it starts the
# local Docker engine from there, builds on its debootstrap'd Debian base and stops the engine at the
# end. Elsewhere it uses the `docker` on PATH and the Dockerfile's default base (python:3.11-slim-bookworm).
# Wheels are downloaded on the host (pinned and hash-checked by requirements.lock) into
# containers/cellbench/wheels/, so the build itself needs no index.
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
say() { echo "== docker-smoke [$(( $(date +%s) - t0 ))s] $*" >&2; }

tag=${CELLBENCH_IMAGE:-cellbench:dev}
engine=../shared/tools/docker/local-engine.sh
python=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
build_args=()
started_engine=0

cleanup() {
  rm -rf "${out:-}"
  if [ "$started_engine" = 1 ]; then
    say "stopping the local Docker engine"
    "$engine" stop || true
  fi
}
trap cleanup EXIT

if [ -x "$engine" ] && [ -z "${DOCKER_HOST:-}" ]; then
  say "starting the local Docker engine ($engine)"
  "$engine" status >/dev/null 2>&1 || started_engine=1
  eval "$("$engine" start)"
fi
docker info >/dev/null
# the local engine (started here or by the caller, e.g. .ci/nextflow-e2e.sh) reaches no registry:
# build on the Debian base it made
if [ -x "$engine" ] && docker image inspect local/debian:bookworm-slim >/dev/null 2>&1; then
  build_args+=(--build-arg BASE=local/debian:bookworm-slim)
fi

say "downloading the locked wheels (manylinux x86_64, CPython 3.11)"
mkdir -p containers/cellbench/wheels
"$python" -m pip download -q --no-deps --require-hashes --only-binary=:all: \
  --python-version 3.11 --implementation cp --abi cp311 \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  --platform manylinux_2_5_x86_64 --platform manylinux1_x86_64 --platform any \
  -r containers/cellbench/requirements.lock -d containers/cellbench/wheels \
  2> >(grep -v 'is ignored: it is neither a file nor a directory' >&2)
# every dependency of pyproject.toml must be in the lock (a stale lock fails here, not in a user's run)
"$python" - <<'PY'
import re, tomllib
deps = tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]
lock = open("containers/cellbench/requirements.lock").read().lower()
names = [re.split(r"[\s<>=!~;\[]", d, maxsplit=1)[0].lower().replace("_", "-") for d in deps]
missing = [n for n in names if not re.search(rf"^{re.escape(n)}==", lock, re.M)]
if missing:
    raise SystemExit(f"containers/cellbench/requirements.lock lacks {missing}: run containers/cellbench/lock.sh")
PY

say "building $tag ${build_args[*]:-}"
docker build -q --network host "${build_args[@]}" -f containers/cellbench/Dockerfile -t "$tag" . >/dev/null \
  2> >(grep -v -e 'legacy builder is deprecated' -e 'Install the buildx' -e 'docs.docker.com/go/buildx' -e '^ *$' >&2)
docker image ls "$tag" --format '   {{.Repository}}:{{.Tag}} {{.Size}}' >&2

say "cellbench --help (no network)"
docker run --rm --network none "$tag" cellbench --help >/dev/null

say "one real task: cellbench embedding on pbmc68k_reduced X_pca (no network, as the calling user)"
out=$(mktemp -d)
chmod 777 "$out"
docker run --rm --network none -u "$(id -u):$(id -g)" \
  -v "$PWD/tests/data:/data:ro" -v "$out:/out" "$tag" \
  cellbench embedding --input /data/pbmc68k_reduced.h5ad --obsm-key X_pca --label-key bulk_labels \
  --output /out/embedding.json --threads 1
"$python" - "$out/embedding.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
v = {m["metric_type"]: m["value"] for m in r["metrics"]}["silhouette_score"]
ref = 0.550262451171875  # TASKS.md reference value (cz-benchmarks 0.15.1)
assert abs(v - ref) <= 1e-5, (v, ref)
print(f"   silhouette_score {v} (reference {ref}); versions {r['versions']}", file=sys.stderr)
PY
say "ok (wall time $(( $(date +%s) - t0 )) s)"
