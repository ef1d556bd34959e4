/*
 * Genetic perturbation expression prediction: the truth once per (dataset, seed) (control matching,
 * Wilcoxon DE, the seeded sample of evaluated genes), then one scoring task per model prediction
 * and per baseline (no_change, other_mean) on it.
 *
 * Not fanned out over conditions: a result carries the mean over all of its conditions (condition
 * MEAN) and `other_mean` needs every condition, so splitting would change the numbers; scoring is
 * cheap next to preparing.
 */

include { CELLBENCH_PERTURBATION_PREPARE } from '../../../modules/local/cellbench/perturbation_prepare'
include { CELLBENCH_PERTURBATION         } from '../../../modules/local/cellbench/perturbation'
include { slim                           } from '../utils_cellbench'

workflow PERTURBATION {

    take:
    ch_datasets      // channel: [ meta (dataset, seed), h5ad ]                       one per dataset x seed
    ch_predictions   // channel: [ meta (dataset, model, seed, layer, baseline), prediction or [] ]

    main:
    CELLBENCH_PERTURBATION_PREPARE(ch_datasets.map { meta, h5ad -> [slim(meta, 'perturbation_prepare'), h5ad] })

    def ch_score = ch_predictions
        .map { meta, prediction -> [[meta.id, meta.seed], slim(meta, 'perturbation'), prediction] }
        .combine(
            CELLBENCH_PERTURBATION_PREPARE.out.prepared.map { meta, prepared -> [[meta.id, meta.seed], prepared] },
            by: 0
        )
        .map { _key, meta, prediction, prepared -> [meta, prepared, prediction] }

    CELLBENCH_PERTURBATION(ch_score)

    emit:
    result   = CELLBENCH_PERTURBATION.out.result              // channel: [ meta, result.json ]
    prepared = CELLBENCH_PERTURBATION_PREPARE.out.prepared    // channel: [ meta, prepared.h5ad ]
    versions = CELLBENCH_PERTURBATION_PREPARE.out.versions.mix(CELLBENCH_PERTURBATION.out.versions)
}
