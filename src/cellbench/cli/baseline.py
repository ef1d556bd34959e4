"""`cellbench baseline`: a baseline representation (PCA of the standard workflow, or raw expression)."""

import click

from cellbench.cli._options import seed_option


@click.command(
    "baseline",
    help="Compute a baseline representation of a dataset and write it as an .h5ad aligned by cell id, "
    "for any task's --embedding. --method pca (the cz-benchmarks baseline): from raw counts (X, or "
    "--layer), normalize_total to the median cell total, log1p, --n-top-genes highly variable genes "
    "(scanpy flavor seurat; all genes if fewer), PCA with --n-comps components (arpack, random_state "
    "--seed); writes obs names and obsm['X_pca'] only (no gene matrix). --method raw: the expression "
    "matrix itself, written as X (sparse kept sparse) with the gene names. The file is written "
    "atomically; uns['cellbench_baseline'] records the settings.\n\n"
    "Example: cellbench baseline --input pbmc.h5ad --layer counts --method pca --seed 42 --output pca.h5ad",
)
@click.option("-i", "--input", "input_path", required=True, type=click.Path(dir_okay=False),
              help="The dataset (.h5ad) with raw counts in X or in --layer.")
@click.option("--method", type=click.Choice(["pca", "raw"]), default="pca", show_default=True,
              help="pca: the standard-workflow PCA; raw: the expression matrix as is.")
@click.option("--layer", default=None, help="Take the counts from this layer instead of X.")
@click.option("--n-top-genes", default=3000, show_default=True, type=click.IntRange(min=1),
              help="Highly variable genes kept before PCA.")
@click.option("--n-comps", default=50, show_default=True, type=click.IntRange(min=1),
              help="Principal components.")
@seed_option("random_state of the arpack PCA.")
@click.option("--threads", default=1, show_default=True, type=click.IntRange(min=1),
              help="Threads for BLAS.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="The baseline .h5ad to write (obs names + obsm['X_pca'], or X for raw).")
def command(input_path, method, layer, n_top_genes, n_comps, seed, threads, output):
    import logging

    from cellbench import __version__
    from cellbench.baselines import baseline_anndata
    from cellbench.cli._options import limit_threads
    from cellbench.io.atomic import atomic_path
    from cellbench.io.dataset import layer_or_x, read_h5ad
    from cellbench.io.results import sha256_file

    adata = read_h5ad(input_path)
    matrix = layer_or_x(adata, layer, input_path)
    where = f"{input_path}:{'layers[' + layer + ']' if layer else 'X'}"
    settings = {"method": method, "layer": layer, "source": str(input_path).rsplit("/", 1)[-1],
                "source_sha256": sha256_file(input_path), "cellbench": __version__}
    with limit_threads(threads):
        out = baseline_anndata(adata, matrix, method=method, where=where, settings=settings, n_top_genes=n_top_genes,
                               n_comps=n_comps, seed=seed)
    with atomic_path(output) as tmp:
        out.write_h5ad(tmp)
    logging.getLogger("cellbench").info("%s: %s baseline of %d cells -> %s", input_path, method, out.n_obs, output)
