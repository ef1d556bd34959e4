#!/usr/bin/env bash
# Regenerate requirements.lock: every Python package of the image, pinned, with sha256 hashes.
#   containers/cellbench/lock.sh            (after changing dependencies in pyproject.toml)
# Resolves for CPython 3.11 on manylinux x86_64 (the image's platform), from PyPI, with uv.
set -euo pipefail
cd "$(dirname "$0")/../.."
uv=${UV:-$(command -v uv || true)}
if [ -z "$uv" ]; then
  python3 -m venv /tmp/cellbench-uv && /tmp/cellbench-uv/bin/pip install -q uv && uv=/tmp/cellbench-uv/bin/uv
fi
"$uv" pip compile pyproject.toml containers/cellbench/requirements.in \
  --generate-hashes --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
  --custom-compile-command containers/cellbench/lock.sh \
  --output-file containers/cellbench/requirements.lock
