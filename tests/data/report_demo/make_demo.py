"""Rebuild the demo run's results (real runs of the cellbench task commands) and its report.

Run from the repository root:  python tests/data/report_demo/make_demo.py [--report DIR]
Dataset: tests/data/pbmc68k_reduced.h5ad (700 cells). Representations: obsm X_pca and X_umap as two
"models", the PCA baseline (`cellbench baseline --method pca` from the counts layer, per seed) and,
for label prediction, the raw-expression baseline. Tasks: clustering, embedding (bulk_labels),
integration (batch = phase), label prediction through label-split / label-fold / label-merge (so the
per-fold results are there for fold bootstrap intervals). Seeds 42, 43, 44. The commands run in this
process (click's standalone_mode=False) to save start-up time; they are the same commands.
"""

import sys
import tempfile
from pathlib import Path

from cellbench.cli import cli

ROOT = Path(__file__).resolve().parents[3]
DATA = ROOT / "tests" / "data" / "pbmc68k_reduced.h5ad"
OUT = Path(__file__).resolve().parent / "results"
SEEDS = (42, 43, 44)
LABEL, BATCH = "bulk_labels", "phase"


def run(*args):
    print("cellbench", " ".join(map(str, args)), file=sys.stderr)
    cli.main(["-q", *map(str, args)], prog_name="cellbench", standalone_mode=False)


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*.json"):
        old.unlink()
    common = ["--input", DATA, "--dataset-name", "pbmc68k_reduced"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        raw = tmp / "raw.h5ad"
        run("baseline", "--input", DATA, "--layer", "counts", "--method", "raw", "--output", raw)
        for seed in SEEDS:
            pca = tmp / f"pca_{seed}.h5ad"
            run("baseline", "--input", DATA, "--layer", "counts", "--method", "pca", "--seed", seed, "--output", pca)
            reps = {
                "X_pca": ["--obsm-key", "X_pca"],
                "X_umap": ["--obsm-key", "X_umap"],
                "pca": ["--embedding", pca, "--obsm-key", "X_pca", "--model-name", "pca"],
            }
            for name, rep in reps.items():
                tag = f"{name}_s{seed}"
                run("clustering", *common, *rep, "--label-key", LABEL, "--seed", seed,
                    "--output", OUT / f"clustering_{tag}.json")
                run("embedding", *common, *rep, "--label-key", LABEL, "--seed", seed,
                    "--output", OUT / f"embedding_{tag}.json")
                run("integration", *common, *rep, "--label-key", LABEL, "--batch-key", BATCH, "--seed", seed,
                    "--output", OUT / f"integration_{tag}.json")
            folds = tmp / f"folds_{seed}.tsv"
            run("label-split", *common, "--label-key", LABEL, "--seed", seed, "--output", folds)
            reps["raw_expression"] = ["--embedding", raw, "--model-name", "raw_expression"]
            for name, rep in reps.items():
                tag = f"{name}_s{seed}"
                fold_files = []
                for clf in ("lr", "knn", "rf"):
                    for fold in range(5):
                        f = OUT / f"label_fold_{tag}_{clf}{fold}.json"
                        run("label-fold", *common, *rep, "--folds", folds, "--fold", fold, "--classifier", clf,
                            "--seed", seed, "--output", f)
                        fold_files.append(f)
                run("label-merge", "--output", OUT / f"label_prediction_{tag}.json", *fold_files)
    if "--report" in sys.argv:
        outdir = sys.argv[sys.argv.index("--report") + 1]
        run("report", "--results", OUT, "--outdir", outdir)


if __name__ == "__main__":
    main()
