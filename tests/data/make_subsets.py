"""Rebuild the bundled test/demo data from the project's shared reference copies.

Run from the repository root:  python tests/data/make_subsets.py /path/to/shared/data
Every output is a subset or format conversion of a published, real data set (see README.md here).
"""
import sys
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

src = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data")
out = Path(__file__).resolve().parent


def write(adata, name):
    tmp = out / f".{name}.tmp"
    adata.write_h5ad(tmp, compression="gzip")
    tmp.replace(out / name)
    print(name, adata.shape, (out / name).stat().st_size // 1024, "KiB")


# pbmc68k_reduced: whole file (700 cells), the TASKS.md reference values are computed on it.
pbmc = ad.read_h5ad(src / "pbmc68k_reduced.h5ad")
pbmc.uns = {k: v for k, v in pbmc.uns.items() if k in ("bulk_labels_colors",)}
pbmc.obsp = {}
# A `counts` layer rebuilt from the log-normalised .raw (the carrier ships no counts):
# rint(expm1(raw.X) * n_counts / 1e4), over the 765 genes of X; used by the PCA and raw-expression baselines.
raw = pbmc.raw[:, pbmc.var_names].X
raw = raw.toarray() if sp.issparse(raw) else np.asarray(raw)
counts = np.rint(np.expm1(raw) * pbmc.obs["n_counts"].to_numpy()[:, None] / 1e4).astype(np.float32)
pbmc.layers["counts"] = sp.csr_matrix(counts)
write(pbmc, "pbmc68k_reduced.h5ad")

# Baron pancreas, human and mouse: all cells, genes restricted to the one-to-one orthologs present in
# both matrices (11674 pairs); mouse genes keep their mouse names, the pair table is kept beside them.
pairs = pd.read_csv(src / "came_gene_matches_1v1_human2mouse.csv")
human = ad.read_h5ad(src / "baron2016_pancreas_human.h5ad")
mouse = ad.read_h5ad(src / "baron2016_pancreas_mouse.h5ad")
pairs = pairs[pairs["human.gene.name"].isin(human.var_names) & pairs["gene.name"].isin(mouse.var_names)]
pairs = pairs.drop_duplicates("human.gene.name").drop_duplicates("gene.name")
pairs = pairs.sort_values("human.gene.name").reset_index(drop=True)
pairs[["human.gene.name", "gene.name"]].to_csv(out / "baron2016_orthologs_1v1_human2mouse.csv", index=False)
for adata, genes, name in (
    (human, pairs["human.gene.name"], "baron2016_pancreas_human.h5ad"),
    (mouse, pairs["gene.name"], "baron2016_pancreas_mouse.h5ad"),
):
    sub = adata[:, genes.to_numpy()].copy()
    sub.obs = sub.obs[["cell_ontology_class", "cell_type1", "donor", "library", "species"]]
    write(sub, name)

# HSMM myoblast time course: all 271 cells, the 2000 genes of highest FPKM variance (FPKM, not counts).
hsmm = ad.read_h5ad(src / "hsmm_myoblast_timecourse.h5ad")
x = hsmm.X.toarray() if hasattr(hsmm.X, "toarray") else np.asarray(hsmm.X)
var = x.var(axis=0)
keep = np.sort(np.argsort(-var, kind="stable")[:2000])
write(hsmm[:, keep].copy(), "hsmm_myoblast_timecourse.h5ad")

# Papalexi THP-1 CRISPR screen: all cells and genes, guide-count matrix dropped.
pap = ad.read_h5ad(src / "papalexi2021_thp1_crispr_lowmoi.h5ad")
pap.obsm = {}
write(pap, "papalexi2021_thp1_crispr_lowmoi.h5ad")
