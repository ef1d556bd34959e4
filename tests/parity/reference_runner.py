"""Run cz-benchmarks 0.15.1 tasks on given inputs and print their results as JSON.

Executed with `.parity-venv/bin/python` (never imports cellbench):
    python reference_runner.py jobs.json > results.json
`jobs.json` is {"jobs": [{"id", "task", ...}, ...]}; jobs run in order in this one process (the
reference's imports, jax included, cost seconds), so a "pca_baseline" job can write an .npy that
later jobs read. The output is {job id: {"metrics": [{metric_type, value, params}], "extra": {...},
"seconds": s}}.

Representations ("rep"): {"h5ad": path, "obsm": key} | {"h5ad": path, "layer": name} |
{"h5ad": path} (X) | {"npy": path} | {"concat": [rep, ...]} (rows stacked), each optionally with
"rows": [start, stop] and "keep" (below).
Labels: {"h5ad": path, "obs": column} (passed as a numpy array; "series": true passes the obs
Series itself), optionally with "keep": {"obs": column, "values": [...]} to subset cells.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import anndata as ad
import numpy as np
import scipy.sparse as sp

_H5AD: dict[str, ad.AnnData] = {}


def h5ad(path: str) -> ad.AnnData:
    if path not in _H5AD:
        _H5AD[path] = ad.read_h5ad(path)
    return _H5AD[path]


def cells(spec: dict) -> np.ndarray | None:
    """Row mask selected by spec["keep"] (obs column in a value list), or None for all cells."""
    keep = spec.get("keep")
    if not keep:
        return None
    adata = h5ad(keep.get("h5ad") or spec["h5ad"])
    return adata.obs[keep["obs"]].astype(str).isin(keep["values"]).to_numpy()


def rep(spec: dict):
    """A representation: an obsm key, a layer, X, an .npy, or the rows of several stacked."""
    if "concat" in spec:
        parts = [rep(p) for p in spec["concat"]]
        x = sp.vstack(parts, format="csr") if any(sp.issparse(p) for p in parts) else np.vstack(parts)
    elif "npy" in spec:
        x = np.load(spec["npy"])
    else:
        adata = h5ad(spec["h5ad"])
        if spec.get("obsm"):
            x = adata.obsm[spec["obsm"]]
        elif spec.get("layer"):
            x = adata.layers[spec["layer"]]
        else:
            x = adata.X
    if "rows" in spec:
        start, stop = spec["rows"]
        x = x[start:stop]
    mask = cells(spec)
    return x if mask is None else x[mask]


def obs(spec: dict):
    adata = h5ad(spec["h5ad"])
    frame = adata.obs
    mask = cells(spec)
    return frame if mask is None else frame[mask]


def labels(spec: dict):
    """Labels as a numpy array (as in TASKS.md's reference values), or the obs Series if asked.

    The form matters to the reference: scib-metrics' silhouette_batch keeps a categorical Series'
    unused categories in each label group, which changes batch_silhouette (pbmc68k_reduced, batch
    phase: 0.8981 from arrays, 0.9376 from the categorical Series).
    """
    series = obs(spec)[spec["obs"]]
    if spec.get("astype") == "float":
        series = series.astype(float)
    return series if spec.get("series") else series.to_numpy()


def metric_json(results) -> list[dict]:
    out = []
    for r in results:
        mt = r.metric_type
        params = {k: (v.item() if hasattr(v, "item") else v) for k, v in (r.params or {}).items()}
        out.append({"metric_type": getattr(mt, "value", str(mt)), "value": float(r.value), "params": params})
    return out


def run_job(job: dict) -> dict:
    from czbenchmarks.datasets.types import Organism
    from czbenchmarks.metrics.utils import _compute_random_baseline, sequential_alignment
    from czbenchmarks.tasks import (
        BatchIntegrationTask,
        BatchIntegrationTaskInput,
        ClusteringTask,
        ClusteringTaskInput,
        CrossSpeciesIntegrationTask,
        CrossSpeciesIntegrationTaskInput,
        CrossSpeciesLabelPredictionTask,
        CrossSpeciesLabelPredictionTaskInput,
        EmbeddingTask,
        EmbeddingTaskInput,
        MetadataLabelPredictionTask,
        MetadataLabelPredictionTaskInput,
        SequentialOrganizationTask,
        SequentialOrganizationTaskInput,
    )

    seed = job.get("seed", 42)
    task = job["task"]
    np.random.seed(seed)  # the reference draws some random numbers from the global RNG (sequential)
    extra: dict = {}
    if task == "pca_baseline":
        # the PCA baseline every embedding task offers (Task.compute_baseline, scanpy workflow)
        emb = ClusteringTask(random_seed=seed).compute_baseline(rep(job["rep"]))
        np.save(job["output"], np.asarray(emb))
        return {"metrics": [], "extra": {"shape": list(np.shape(emb)), "dtype": str(np.asarray(emb).dtype)}}
    if task == "clustering":
        t = ClusteringTask(random_seed=seed)
        frame = obs(job["labels"])
        ti = ClusteringTaskInput(obs=frame, input_labels=labels(job["labels"]), use_rep="X")
        out = t._run_task(rep(job["rep"]), ti)
        metrics = t._compute_metrics(ti, out)
        extra["clusters"] = [str(c) for c in out.predicted_labels]
    elif task == "embedding":
        metrics = EmbeddingTask(random_seed=seed).run(
            rep(job["rep"]), EmbeddingTaskInput(input_labels=labels(job["labels"]))
        )
    elif task == "integration":
        metrics = BatchIntegrationTask(random_seed=seed).run(
            rep(job["rep"]),
            BatchIntegrationTaskInput(batch_labels=labels(job["batch"]), labels=labels(job["labels"])),
        )
    elif task == "sequential":
        x = rep(job["rep"])
        lab = labels(job["labels"])
        k = job.get("k", 15)
        ti = SequentialOrganizationTaskInput(
            obs=obs(job["labels"]), input_labels=lab, k=k, adaptive_k=job.get("adaptive_k", False)
        )
        metrics = SequentialOrganizationTask(random_seed=seed).run(x, ti)
        dense = x.toarray() if sp.issparse(x) else np.asarray(x)
        # the unnormalised mean |t_i - t_j| (deterministic; the normalised score uses an unseeded baseline)
        extra["D"] = float(sequential_alignment(dense, np.asarray(lab), k=k, normalize=False, adaptive_k=False))
        extra["D_adaptive"] = float(
            sequential_alignment(dense, np.asarray(lab), k=k, normalize=False, adaptive_k=True)
        )
        # the random baseline B the normalised score divides by, drawn again to measure its spread
        extra["B"] = [float(_compute_random_baseline(np.asarray(lab, dtype=float), k))
                      for _ in range(job.get("baseline_repeats", 0))]
    elif task == "label_prediction":
        t = MetadataLabelPredictionTask(random_seed=seed)
        x = rep(job["rep"])
        if job.get("baseline"):
            x = t.compute_baseline(x)  # raw expression, densified by the reference
        ti = MetadataLabelPredictionTaskInput(
            labels=labels(job["labels"]),
            n_folds=job.get("n_folds", 5),
            min_class_size=job.get("min_class_size", 10),
        )
        metrics = t.run(x, ti)
    elif task in ("cross_species_integration", "cross_species_label_prediction"):
        reps = [np.asarray(rep(r)) for r in job["reps"]]
        labs = [labels(spec) for spec in job["labels"]]
        organisms = [getattr(Organism, name) for name in job["organisms"]]
        if task == "cross_species_integration":
            metrics = CrossSpeciesIntegrationTask(random_seed=seed).run(
                reps, CrossSpeciesIntegrationTaskInput(labels=labs, organism_list=organisms)
            )
        else:
            kwargs = {"aggregation_method": job.get("aggregation", "none"), "n_folds": job.get("n_folds", 5)}
            if job.get("sample_ids"):
                kwargs["sample_ids"] = [labels(spec) for spec in job["sample_ids"]]
            metrics = CrossSpeciesLabelPredictionTask(random_seed=seed).run(
                reps, CrossSpeciesLabelPredictionTaskInput(labels=labs, organisms=organisms, **kwargs)
            )
    elif task == "perturbation":
        return perturbation(job)
    elif task == "perturbation_shipped":
        return perturbation_shipped(job)
    else:
        raise ValueError(f"unknown reference task {task!r}")
    return {"metrics": metric_json(metrics), "extra": extra}


def perturbation(job: dict) -> dict:
    """The reference's perturbation pipeline pieces on a given control map and prediction:
    Wilcoxon DE (run_multicondition_dge_analysis), the DE filter of SingleCellPerturbationDataset,
    sample_de_genes, then PerturbationExpressionPredictionTask (Spearman per condition)."""
    import pandas as pd
    from czbenchmarks.datasets.single_cell_perturbation import sample_de_genes
    from czbenchmarks.datasets.utils_single_cell import run_multicondition_dge_analysis
    from czbenchmarks.tasks import (
        PerturbationExpressionPredictionTask,
        PerturbationExpressionPredictionTaskInput,
    )

    key = job.get("condition_key", "condition")
    adata = h5ad(job["h5ad"]).copy()
    with open(job["control_map"]) as fh:
        control_map = json.load(fh)  # {condition: {treated id: control id}}, treated in dataset order
    # the DE compares each condition with its distinct matched controls (first-appearance order)
    control_ids = {cond: list(dict.fromkeys(pairs.values())) for cond, pairs in control_map.items()}
    de, _ = run_multicondition_dge_analysis(
        adata,
        condition_key=key,
        de_gene_col="gene_id",
        control_cells_ids=control_ids,
        filter_min_cells=job.get("min_cells_per_gene", 10),
        filter_min_genes=job.get("min_genes_per_cell", 0),
        min_pert_cells=job.get("min_cells", 50),
    )
    de = de.reset_index(drop=True)
    keep = (de["pval_adj"] < job.get("pval_threshold", 1e-4)) & (
        de["logfoldchange"].abs() >= job.get("min_abs_logfoldchange", 1.0)
    )
    filtered = de[keep]
    target = sample_de_genes(filtered, 0.5, 5, condition_col=key, gene_col="gene_id", seed=job.get("seed", 42))
    prediction = np.load(job["prediction"])
    task_adata = ad.AnnData(X=prediction, obs=adata.obs[[key]].copy(), var=pd.DataFrame(index=adata.var_names))
    task_adata.uns["de_results"] = filtered[[key, "gene_id", "logfoldchange", "pval_adj"]].reset_index(drop=True)
    task_adata.uns["control_cells_map"] = control_map
    task_adata.uns["target_conditions_dict"] = target
    task_adata.uns["config"] = {"condition_key": key}
    metrics = PerturbationExpressionPredictionTask(random_seed=job.get("seed", 42)).run(
        prediction, PerturbationExpressionPredictionTaskInput(adata=task_adata, pred_effect_operation="ratio")
    )
    table = de[[key, "gene_id", "score", "logfoldchange", "pval", "pval_adj"]]
    return {
        "metrics": metric_json(metrics),
        "extra": {
            "de_columns": ["condition", "gene", "score", "logfoldchange", "pval", "pval_adj"],
            "de": [[str(r[0]), str(r[1]), *map(float, r[2:])] for r in table.itertuples(index=False)],
            "evaluated_genes": {str(k): [str(g) for g in v] for k, v in target.items()},
        },
    }


def perturbation_shipped(job: dict) -> dict:
    """A dataset in the reference's own format, read by its own SingleCellPerturbationDataset (shipped
    DE table and control map, its filter and seeded gene draw), then PerturbationExpressionPredictionTask
    on a prediction. Also rebuilds the DE table from the shipped map with run_multicondition_dge_analysis
    (as the fixture was made), to show the shipped table is that helper's output."""
    import pandas as pd
    from czbenchmarks.datasets import SingleCellPerturbationDataset
    from czbenchmarks.datasets.types import Organism
    from czbenchmarks.datasets.utils_single_cell import run_multicondition_dge_analysis
    from czbenchmarks.tasks import (
        PerturbationExpressionPredictionTask,
        PerturbationExpressionPredictionTaskInput,
    )

    key, seed = job.get("condition_key", "condition"), job.get("seed", 42)
    dataset = SingleCellPerturbationDataset(
        path=job["h5ad"],
        organism=Organism.HUMAN,
        condition_key=key,
        control_name=job.get("control_name", "ctrl"),
        de_gene_col=job.get("de_gene_col", "gene_id"),
        random_seed=seed,
    )
    dataset.load_data()
    prediction = np.load(job["prediction"])
    metrics = PerturbationExpressionPredictionTask(random_seed=seed).run(
        prediction, PerturbationExpressionPredictionTaskInput(adata=dataset.adata, pred_effect_operation="ratio")
    )
    raw = ad.read_h5ad(job["h5ad"])
    shipped_map = raw.uns["control_cells_map"]
    rebuilt, _ = run_multicondition_dge_analysis(
        raw,
        condition_key=key,
        de_gene_col=job.get("de_gene_col", "gene_id"),
        control_cells_ids={cond: list(dict.fromkeys(pairs.values())) for cond, pairs in shipped_map.items()},
        filter_min_cells=job.get("min_cells_per_gene", 10),
        filter_min_genes=job.get("min_genes_per_cell", 0),
        min_pert_cells=job.get("min_cells", 50),
    )
    shipped = pd.DataFrame(raw.uns["de_results_wilcoxon"])
    same = list(rebuilt.columns) == list(shipped.columns) and rebuilt.reset_index(drop=True).equals(
        shipped.reset_index(drop=True)
    )
    # the same table up to floating point: rows matched by (condition, gene); the largest difference of
    # each value column and the rows that differ (the rebuild's scores move from one host to another)
    keys = [key if key in shipped.columns else "condition", "gene_id"]
    a = rebuilt.sort_values(keys).reset_index(drop=True)
    b = shipped.sort_values(keys).reset_index(drop=True)
    same_rows = list(a.columns) == list(b.columns) and a[keys].equals(b[keys])
    values = ["score", "logfoldchange", "pval", "pval_adj"]
    diff = {c: float(np.nanmax(np.abs(a[c].to_numpy(float) - b[c].to_numpy(float)))) if same_rows else None
            for c in values}
    # rows with a value moved beyond float32 rounding (the table's score and logfoldchange are float32)
    differing = int((np.abs(a[values].to_numpy(float) - b[values].to_numpy(float)) > 1e-6).any(axis=1).sum()) \
        if same_rows else None
    return {
        "metrics": metric_json(metrics),
        "extra": {
            "evaluated_genes": {str(k): [str(g) for g in v] for k, v in dataset.target_conditions_dict.items()},
            "de_rows": len(dataset.adata.uns["de_results"]),
            "rebuilt_de_equals_shipped": bool(same),
            "rebuilt_de_same_rows": bool(same_rows),
            "rebuilt_de_max_diff": diff,
            "rebuilt_de_rows_differing": differing,
            "de_rows_shipped": len(shipped),
        },
    }


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.WARNING)
    for noisy in ("czbenchmarks", "jax", "absl"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    with open(argv[1]) as fh:
        spec = json.load(fh)
    out = {}
    for job in spec["jobs"]:
        start = time.perf_counter()
        print(f"[reference] {job['id']} ...", file=sys.stderr, flush=True)
        with contextlib.redirect_stdout(sys.stderr):  # stdout carries the JSON; the reference print()s
            result = run_job(job)
        result["seconds"] = round(time.perf_counter() - start, 2)
        print(f"[reference] {job['id']} done in {result['seconds']} s", file=sys.stderr, flush=True)
        out[job["id"]] = result
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
