#!/usr/bin/env bash
# Build the MultiQC image of the e2e runs and tag it as the MULTIQC module's container.
#
#   build-multiqc-image.sh BASE_IMAGE TAG [PYTHON]      (needs DOCKER_HOST / docker; called by .ci/nextflow-e2e.sh)
#
# The wheels of .ci/e2e/multiqc/requirements.lock are downloaded on the host (hash-checked; kept in
# ${XDG_CACHE_HOME:-~/.cache}/cellbench-e2e/multiqc-wheels between runs) into a temporary build context.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
base=$1 tag=$2 python=${3:-python3}
cache=${XDG_CACHE_HOME:-$HOME/.cache}/cellbench-e2e/multiqc-wheels
# the image is rebuilt only when the recipe, the lock or the base image changed
key=$( (cat "$here/multiqc/Dockerfile" "$here/multiqc/requirements.lock"; docker image inspect -f '{{.Id}}' "$base") | sha256sum | cut -c1-32)
if [ "$(docker image inspect -f '{{index .Config.Labels "org.cellbench.e2e-key"}}' "$tag" 2>/dev/null)" = "$key" ]; then
  echo "   $tag is up to date (key $key)" >&2
  docker run --rm --network none "$tag" multiqc --version >&2
  exit 0
fi
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$cache"
"$python" -m pip download -q --no-deps --require-hashes --only-binary=:all: \
  --python-version 3.11 --implementation cp --abi cp311 \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  --platform manylinux_2_5_x86_64 --platform manylinux1_x86_64 --platform any \
  -r "$here/multiqc/requirements.lock" -d "$cache"
mkdir "$ctx/wheels"
# only the locked files (an older download in the cache must not reach the image)
"$python" - "$here/multiqc/requirements.lock" "$cache" "$ctx/wheels" <<'PY'
import hashlib, os, re, shutil, sys
lock, cache, dest = sys.argv[1:]
want = set(re.findall(r"sha256:([0-9a-f]{64})", open(lock).read()))
for f in os.listdir(cache):
    p = os.path.join(cache, f)
    if f.endswith(".whl") and hashlib.sha256(open(p, "rb").read()).hexdigest() in want:
        shutil.copy(p, dest)
PY
cp "$here/multiqc/Dockerfile" "$here/multiqc/requirements.lock" "$ctx/"
docker build -q --network host --build-arg "BASE=$base" --label "org.cellbench.e2e-key=$key" -t "$tag" "$ctx" >/dev/null \
  2> >(grep -v -e 'legacy builder is deprecated' -e 'Install the buildx' -e 'docs.docker.com/go/buildx' -e '^ *$' >&2)
docker run --rm --network none "$tag" multiqc --version >&2
