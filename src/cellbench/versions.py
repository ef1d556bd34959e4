"""Installed package versions, from package metadata (no imports, so asking costs nothing at start-up).

Results record the versions of the libraries that shape their numbers; model records those of the
runner's libraries. Both ask here.
"""

from __future__ import annotations

from importlib import metadata


def package_versions(names) -> dict[str, str]:
    """{distribution name: version} of the installed ones among `names`, in the order given."""
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out
