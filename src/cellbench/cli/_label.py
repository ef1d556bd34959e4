"""The --classifiers option of the label prediction and cross-species label commands.

Imported inside command bodies only. Loading the label inputs is cellbench.io.label_data; the
params a result records are built by the tasks (cellbench.tasks.label_prediction).
"""

from __future__ import annotations


def parse_classifiers(value: str, param_hint: str | None = None) -> list[str]:
    """'lr,knn,rf' -> ['lr', 'knn', 'rf'] in the reference's order; unknown names are a usage error."""
    import click

    from cellbench.tasks.label_prediction import CLASSIFIERS

    names = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [n for n in names if n not in CLASSIFIERS]
    if unknown or not names:
        raise click.BadParameter(
            f"choose from {', '.join(CLASSIFIERS)} (comma-separated); got '{value}'", param_hint=param_hint
        )
    return [c for c in CLASSIFIERS if c in names]
