"""Cross-species integration and label prediction vs cz-benchmarks 0.15.1 on Baron human + mouse.

The representation is the reference's PCA baseline of both species' counts stacked (the bundled
files share the same one-to-one ortholog genes in the same order), split back per species, so each
species has an embedding in one shared space, as a cross-species model would give.
"""

from __future__ import annotations

import anndata as ad
import numpy as np
import pytest
from parity_harness import BARON_H, BARON_M, BARON_SHARED, N_BARON_H, values

from cellbench.tasks.cross_species_integration import cross_species_integration
from cellbench.tasks.cross_species_label import SpeciesData, cross_species_label_prediction

pytestmark = pytest.mark.parity

SPECIES = ("homo_sapiens", "mus_musculus")  # str(Organism.HUMAN), str(Organism.MOUSE) in the reference


@pytest.fixture(scope="module")
def baron(ref_job):
    joint = np.load(ref_job("baron_joint_pca")["output"])
    human, mouse = ad.read_h5ad(BARON_H), ad.read_h5ad(BARON_M)
    return {
        "X": [joint[:N_BARON_H], joint[N_BARON_H:]],
        "labels": [a.obs["cell_ontology_class"].astype(str).to_numpy() for a in (human, mouse)],
    }


def test_cross_species_integration(baron, ref_answer):
    got = {m.metric_type: m.value for m in cross_species_integration(baron["X"], baron["labels"], list(SPECIES))}
    ref = {k[0]: v for k, v in values(ref_answer("baron_cross_species_integration")).items()}
    assert got["entropy_per_cell"] == pytest.approx(ref["entropy_per_cell"], abs=3e-3)
    assert got["batch_silhouette"] == pytest.approx(ref["batch_silhouette"], abs=1e-5)


def test_cross_species_label_prediction(baron, ref_answer):
    """Cell level (no aggregation), the 8 classes with >= 10 cells in both species: the only inputs on
    which the reference runs (its AUROC raises unless every test set has exactly the training classes)."""
    species = []
    for name, X, labels in zip(SPECIES, baron["X"], baron["labels"]):
        keep = np.isin(labels, BARON_SHARED)
        species.append(SpeciesData(name=name, X=X[keep], labels=labels[keep]))
    metrics, _ = cross_species_label_prediction(species, aggregation="none", seed=42)
    ref = values(ref_answer("baron_cross_species_label_prediction"))
    assert len(ref) == 80  # 4 ordered pairs x 20
    got = {
        (m.metric_type, tuple(sorted((k, m.params[k]) for k in ("classifier", "test_species", "train_species")))): m.value
        for m in metrics
    }
    assert list(got) == list(ref)
    for key, expected in ref.items():
        assert got[key] == pytest.approx(expected, abs=1e-9), key
