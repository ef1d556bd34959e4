#!/usr/bin/env bash
# Build the scVI image offline: download the wheels on the host (pinned by constraints.txt and the core
# image's lock), then `docker build` with no index.
#
#   bash containers/scvi/build.sh [TAG]        (from anywhere)
#
# TAG defaults to params.scvi_container in nextflow.config (the name the pipeline runs). BASE (env)
# defaults to params.cellbench_container: build that image first (.ci/docker-smoke.sh, or
# `docker build -f containers/cellbench/Dockerfile -t <it> .`). SCVI_WHEELS (env) is where the wheels are
# kept between builds (default ~/.cache/cellbench/scvi-wheels; about 3 GB: torch's CUDA wheels).
# PYTHON (env): the Python whose pip downloads (default .venv/bin/python, else python3).
# Prints the build's wall time (856 s here on 2 cores); the image is about 8 GB.
set -euo pipefail
cd "$(dirname "$0")/../.."
t0=$(date +%s)
say() { echo "== scvi-image [$(( $(date +%s) - t0 ))s] $*" >&2; }
conf() { sed -n "s/^ *$1 *= *'\(.*\)'.*/\1/p" nextflow.config | head -1; }

tag=${1:-$(conf scvi_container)}
tag=${tag:-cellbench/cellbench-scvi:0.1.0}
base=${BASE:-$(conf cellbench_container)}
base=${base:-ghcr.io/cellbench/cellbench:0.1.0}
python=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
wheels=${SCVI_WHEELS:-${XDG_CACHE_HOME:-$HOME/.cache}/cellbench/scvi-wheels}
scvi_version=$(sed -n 's/^scvi-tools==//p' containers/scvi/constraints.txt)

docker image inspect "$base" >/dev/null 2>&1 || { echo "the base image $base is not there: build the cellbench image first" >&2; exit 1; }
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT

say "wheels for scvi-tools $scvi_version into $wheels (CPython 3.11, manylinux x86_64)"
mkdir -p "$wheels"
sed -n 's/^\([A-Za-z0-9_.-]*==[^ \\]*\).*/\1/p' containers/cellbench/requirements.lock >"$ctx/core.txt"
# docrep is published as a source distribution only: build its (pure Python) wheel here
ls "$wheels"/docrep-*.whl >/dev/null 2>&1 || \
  "$python" -m pip wheel -q --no-deps "$(grep -i '^docrep==' containers/scvi/constraints.txt)" -w "$wheels"
plats=()
for v in $(seq 36 -1 17); do plats+=(--platform "manylinux_2_${v}_x86_64"); done
"$python" -m pip download -q --progress-bar off --only-binary=:all: --python-version 3.11 --implementation cp \
  --abi cp311 "${plats[@]}" --platform manylinux2014_x86_64 --platform manylinux_2_5_x86_64 \
  --platform manylinux1_x86_64 --platform any --find-links "$wheels" \
  -c "$ctx/core.txt" -c containers/scvi/constraints.txt "scvi-tools==$scvi_version" -d "$wheels"
say "wheels: $(du -sh "$wheels" | cut -f1)"

# the build context: the Dockerfile, the constraints and the wheels (hard links where possible)
cp containers/scvi/Dockerfile containers/scvi/constraints.txt "$ctx/"
mkdir "$ctx/wheels"
cp -al "$wheels"/. "$ctx/wheels/" 2>/dev/null || cp -a "$wheels"/. "$ctx/wheels/"
rm -f "$ctx/core.txt"

say "docker build -t $tag (BASE=$base, no index)"
s=$(date +%s)
docker build -q --network none --build-arg "BASE=$base" --build-arg "SCVI_VERSION=$scvi_version" -t "$tag" "$ctx" \
  >/dev/null 2> >(grep -v -e 'legacy builder is deprecated' -e 'Install the buildx' -e 'docs.docker.com/go/buildx' -e '^ *$' >&2)
docker image ls "$tag" --format '   {{.Repository}}:{{.Tag}} {{.Size}}' >&2
docker run --rm --network none "$tag" python3 -c 'import scvi, torch; print("   scvi-tools", scvi.__version__, "torch", torch.__version__, "cuda available:", torch.cuda.is_available())' >&2
say "ok: docker build $(( $(date +%s) - s )) s, total $(( $(date +%s) - t0 )) s"
