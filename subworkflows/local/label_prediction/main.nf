/*
 * Label prediction, fanned out as cz-benchmarks defines it: one split per (dataset, seed) (from the
 * dataset's label column), then one task per (representation, seed, fold, classifier) on the
 * representation's extract, then one merge per (representation, seed) that gives the 20
 * mean_fold_* metrics.
 */

include { CELLBENCH_LABEL_SPLIT } from '../../../modules/local/cellbench/label_split'
include { CELLBENCH_LABEL_FOLD  } from '../../../modules/local/cellbench/label_fold'
include { CELLBENCH_LABEL_MERGE } from '../../../modules/local/cellbench/label_merge'
include { slim                  } from '../utils_cellbench'

workflow LABEL_PREDICTION {

    take:
    ch_datasets      // channel: [ meta (dataset, seed), h5ad ]                   one per dataset x seed
    ch_units         // channel: [ meta (dataset, representation, seed), extract of the representation ]
    classifiers      // list of classifier names (lr, knn, rf)
    n_folds          // integer

    main:
    CELLBENCH_LABEL_SPLIT(ch_datasets.map { meta, h5ad -> [slim(meta, 'label_split'), h5ad] })

    def ch_folds = CELLBENCH_LABEL_SPLIT.out.folds
        .map { meta, folds -> [[meta.id, meta.seed], folds] }

    // representation x its folds file x fold x classifier; each fold task stages the representation's
    // extract (cell ids, label column, representation), not the dataset
    def ch_fold_units = ch_units
        .map { meta, extract -> [[meta.id, meta.seed], meta, extract] }
        .combine(ch_folds, by: 0)
        .combine(channel.fromList(0..<n_folds))
        .combine(channel.fromList(classifiers))
        .map { _key, meta, extract, folds, fold, classifier ->
            [slim(meta + [fold: fold, classifier: classifier], 'label_fold'), extract, folds]
        }

    CELLBENCH_LABEL_FOLD(ch_fold_units)

    // merge each representation's n_folds x n_classifiers results as soon as the last one is done
    // (a fold that failed on its data leaves the group short: no merged result for that representation)
    def n_units = n_folds * classifiers.size()
    def ch_merge = CELLBENCH_LABEL_FOLD.out.result
        .map { meta, json -> [groupKey(slim(meta, 'label_merge'), n_units), json] }
        .groupTuple()
        .map { key, jsons -> [key.getGroupTarget(), jsons.sort(false) { f -> f.name }] }

    CELLBENCH_LABEL_MERGE(ch_merge)

    emit:
    result   = CELLBENCH_LABEL_MERGE.out.result   // channel: [ meta, result.json ]
    folds    = CELLBENCH_LABEL_SPLIT.out.folds    // channel: [ meta, folds.tsv ]
    versions = CELLBENCH_LABEL_SPLIT.out.versions
        .mix(CELLBENCH_LABEL_FOLD.out.versions, CELLBENCH_LABEL_MERGE.out.versions)
}
