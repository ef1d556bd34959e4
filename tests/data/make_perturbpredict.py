"""Build the reference-format perturbation fixture from the bundled Papalexi data.

Run with the parity environment (it needs cz-benchmarks, never cellbench), from the repository root:
    .parity-venv/bin/python tests/data/make_perturbpredict.py
Writes tests/data/papalexi2021_thp1_perturbpredict.h5ad: the layout of cz-benchmarks' own perturbation
datasets (replogle_k562_essential_perturbpredict), i.e. raw counts plus, in uns,
- control_cells_map: {condition: {treated cell id: control cell id}} (a strict 1:1 map), and
- de_results_wilcoxon: the reference's run_multicondition_dge_analysis of every condition against the
  distinct controls of its map (columns gene_id, score, logfoldchange, pval, pval_adj, condition).
The map is drawn here with its own generator (seed 2021), not with cellbench's matching, so a test can
tell the shipped map from one cellbench would recompute.
"""

from pathlib import Path

import anndata as ad
import numpy as np
from czbenchmarks.datasets.utils_single_cell import run_multicondition_dge_analysis

HERE = Path(__file__).resolve().parent
# two knock-downs with strong effects (evaluated), two weak ones, and one below min_pert_cells (33 cells)
CONDITIONS = ["CUL3", "JAK2", "MYC", "SPI1", "STAT1"]

src = ad.read_h5ad(HERE / "papalexi2021_thp1_crispr_lowmoi.h5ad")
obs = src.obs
keep = (obs["grna_umi_max"] >= 5) & (obs["grna_umi_frac"] >= 0.8) & obs["condition"].isin(["ctrl", *CONDITIONS])
adata = src[keep.to_numpy()].copy()
adata.obs = adata.obs[["condition", "bio_rep"]].copy()
adata.obs["condition"] = adata.obs["condition"].astype(str)
adata.uns = {}

rng = np.random.default_rng(2021)
controls = adata.obs_names[adata.obs["condition"] == "ctrl"].to_numpy()
control_map = {}
for cond in CONDITIONS:
    treated = adata.obs_names[adata.obs["condition"] == cond].to_numpy()
    drawn = rng.choice(controls, size=treated.size, replace=treated.size > controls.size)
    control_map[cond] = {str(t): str(c) for t, c in zip(treated, drawn)}

de, _ = run_multicondition_dge_analysis(
    adata.copy(),
    condition_key="condition",
    de_gene_col="gene_id",
    control_cells_ids={cond: list(dict.fromkeys(pairs.values())) for cond, pairs in control_map.items()},
    filter_min_cells=10,
    filter_min_genes=0,  # the helper's 1000 would drop every cell of this 299-gene panel
    min_pert_cells=50,
)
adata.uns["control_cells_map"] = control_map
adata.uns["de_results_wilcoxon"] = de.reset_index(drop=True)

out = HERE / "papalexi2021_thp1_perturbpredict.h5ad"
tmp = HERE / f".{out.name}.tmp"
adata.write_h5ad(tmp, compression="gzip")
tmp.replace(out)
print(out.name, adata.shape, sorted(de["condition"].unique()), out.stat().st_size // 1024, "KiB")
