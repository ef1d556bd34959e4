"""Build (once) the separate virtual environment holding the reference, cz-benchmarks 0.15.1.

The reference cannot live in cellbench's own environment (it pins its own stack: jax via
scib-metrics, hnswlib, hydra, boto3), so it gets `.parity-venv/` in the repository root
(gitignored). Built with the interpreter running the tests, from PyPI via pip. The libraries both
environments share are pinned to the versions cellbench runs with (a pip constraints file), so a
difference the parity tests find is a difference of code, not of library versions; if that set
cannot be resolved the build falls back to the reference's own requirements (and records it).

Run directly to build it outside pytest: `python tests/parity/parity_venv.py [--rebuild]`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
VENV = Path(os.environ.get("CELLBENCH_PARITY_VENV", REPO / ".parity-venv"))
MARKER = "cellbench-parity.json"  # written last: its presence means the build finished

REFERENCE = "cz-benchmarks==0.15.1"
# pynndescent 0.7 with scanpy 1.11 crashes the reference at >= 8192 cells (TASKS.md); 0.5.13 is tested.
EXTRA = ["pynndescent==0.5.13"]
# Shared libraries whose versions can change a number: pinned to cellbench's when both can agree.
SHARED = ("numpy", "scipy", "scikit-learn", "pandas", "anndata", "scanpy", "igraph", "leidenalg", "h5py", "numba")
INSTALL_TIMEOUT_S = int(os.environ.get("CELLBENCH_PARITY_INSTALL_TIMEOUT", "1800"))


def python_path(venv: Path = VENV) -> Path:
    return venv / "bin" / "python"


def info(venv: Path = VENV) -> dict | None:
    """The build record (versions, build time), or None when no finished build exists."""
    marker = venv / MARKER
    if not marker.exists() or not python_path(venv).exists():
        return None
    return json.loads(marker.read_text())


def _log(msg: str) -> None:
    print(f"[parity-venv] {msg}", file=sys.stderr, flush=True)


def _constraints() -> list[str]:
    pins = []
    for name in SHARED:
        try:
            pins.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pass
    return pins


def _pip(venv: Path, args: list[str], deadline: float) -> None:
    cmd = [str(python_path(venv)), "-m", "pip", "--disable-pip-version-check", *args]
    _log("$ " + " ".join(cmd))
    remaining = max(1.0, deadline - time.monotonic())
    # pip's own progress goes to stderr so a slow CI build shows it is alive
    subprocess.run(cmd, check=True, stdout=sys.stderr, stderr=sys.stderr, timeout=remaining)


def build(venv: Path = VENV, rebuild: bool = False) -> dict:
    """Create the environment if it is missing; returns its build record.

    A lock file (in the temp folder, named after the environment's path) makes concurrent test
    sessions wait for one build.
    """
    import fcntl
    import hashlib
    import tempfile

    if not rebuild and (rec := info(venv)) is not None:
        return rec
    venv.parent.mkdir(parents=True, exist_ok=True)
    tag = hashlib.sha256(str(venv.resolve()).encode()).hexdigest()[:12]
    with open(Path(tempfile.gettempdir()) / f"cellbench-parity-venv-{tag}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not rebuild and (rec := info(venv)) is not None:  # built by another session meanwhile
            return rec
        return _build(venv)


def _build(venv: Path) -> dict:
    if venv.exists():
        shutil.rmtree(venv)
    start = time.monotonic()
    deadline = start + INSTALL_TIMEOUT_S
    _log(f"building {venv} with {REFERENCE} (one-off, a few minutes; timeout {INSTALL_TIMEOUT_S} s)")
    # sys.executable may itself be a venv's python: venv then bases the new one on the same interpreter
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pins = _constraints()
    constraints = venv / "constraints.txt"
    constraints.write_text("\n".join(pins) + "\n")
    pinned = True
    try:
        _pip(venv, ["install", "-c", str(constraints), REFERENCE, *EXTRA], deadline)
    except subprocess.CalledProcessError:
        _log("could not install with cellbench's library versions pinned; installing the reference's own set")
        pinned = False
        _pip(venv, ["install", REFERENCE, *EXTRA], deadline)
    out = subprocess.run(
        [str(python_path(venv)), "-m", "pip", "list", "--format=json"],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    packages = {p["name"].lower(): p["version"] for p in json.loads(out.stdout)}
    record = {
        "reference": REFERENCE,
        "python": ".".join(map(str, sys.version_info[:3])),
        "pinned_to_cellbench": pinned,
        "constraints": pins if pinned else [],
        "build_seconds": round(time.monotonic() - start, 1),
        "packages": packages,
    }
    (venv / MARKER).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    _log(f"built in {record['build_seconds']} s")
    return record


if __name__ == "__main__":
    rec = build(rebuild="--rebuild" in sys.argv[1:])
    print(json.dumps({k: v for k, v in rec.items() if k != "packages"}, indent=2))
