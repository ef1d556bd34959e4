/*
 * CELLBENCH: datasets x representations x tasks x seeds, fanned out, then gathered.
 *
 *   representations  = the model outputs of the models samplesheet + the baselines computed here
 *                      (pca: PCA of raw counts per dataset; raw_expression: the counts themselves;
 *                      no_change / other_mean for perturbation) + the models run here (rows with a
 *                      runner: harmony, scvi, or the model's own container checked by cellbench
 *                      model-check; once per dataset with the first seed, like the PCA baseline)
 *   units of work    = representation x seed x task, and below that:
 *                      label prediction: x fold x classifier (then merged per representation)
 *                      cross-species:    species gathered per (group, model); label x (train, test) pair
 *   extracts         = one per dataset x representation (cellbench extract): the cell ids, the obs columns
 *                      its tasks read and the representation as X. The tasks of a representation stage
 *                      this small file, not the dataset and its embedding file; the PCA baseline, the
 *                      label split and the perturbation truth, which need more of the dataset, read the
 *                      dataset (docs/pipeline.md, "Scale-out cost")
 *   gather           = one aggregate table -> report (MultiQC custom content) -> MultiQC
 *
 * The channels carry the whole dataset row (meta) for routing; each process gets only the fields it
 * uses (processFields() in utils_cellbench), so -resume reruns only what a change touches.
 * Results are published by publishDir (conf/modules.config).
 */

include { CELLBENCH_BASELINE  } from '../modules/local/cellbench/baseline'
include { CELLBENCH_MODEL_HARMONY } from '../modules/local/cellbench/model_harmony'
include { CELLBENCH_MODEL_SCVI    } from '../modules/local/cellbench/model_scvi'
include { CELLBENCH_MODEL_CHECK   } from '../modules/local/cellbench/model_check'
include { MODEL_CONTAINER         } from '../modules/local/model_container'
include { CELLBENCH_EXTRACT   } from '../modules/local/cellbench/extract'
include { CELLBENCH_AGGREGATE } from '../modules/local/cellbench/aggregate'
include { CELLBENCH_REPORT    } from '../modules/local/cellbench/report'
include { MULTIQC             } from '../modules/nf-core/multiqc'
include { EMBEDDING_TASKS     } from '../subworkflows/local/embedding_tasks'
include { LABEL_PREDICTION    } from '../subworkflows/local/label_prediction'
include { CROSS_SPECIES       } from '../subworkflows/local/cross_species'
include { PERTURBATION        } from '../subworkflows/local/perturbation'
include { baselineNames; baselineTasks; embeddingTasks; extractObsKeys; isRepresentation; slim; speciesGroupSizes } from '../subworkflows/local/utils_cellbench'

workflow CELLBENCH {

    take:
    datasets         // list of [ meta (dataset row), h5ad ]
    models           // list of [ meta (model, dataset, obsm_key, layer, runner, image, image_digest, command, weights), embedding or [], prediction or [] ]
    seeds            // list of integers: every unit of work runs once per seed
    enabled_baselines // list of baseline names to compute (pca, raw_expression, no_change, other_mean)
    classifiers      // list of label prediction classifiers (lr, knn, rf)
    n_folds          // integer: cross-validation folds of label prediction
    skip_multiqc     // boolean
    multiqc_config   // file or []: the user's MultiQC config, applied last
    multiqc_logo     // file or []

    main:
    def names = baselineNames()
    def onTasks = baselineTasks()
    def embedTasks = embeddingTasks()
    def byId = datasets.collectEntries { meta, h5ad -> [(meta.id): [meta, h5ad]] }
    def ch_datasets = channel.fromList(datasets)
    def ch_seeds = channel.fromList(seeds)
    def ch_versions = channel.empty()

    // ---- representations: [ meta (dataset + model, obsm_key, layer, baseline, tasks), h5ad, embedding or [] ]
    def model_reps = models
        .findAll { m, embedding, prediction -> !m.runner && isRepresentation(m, embedding, prediction) }
        .collect { m, embedding, _prediction ->
            def meta = byId[m.dataset][0]
            def rep = [model: m.model, obsm_key: m.obsm_key, layer: m.layer, baseline: false,
                       tasks: meta.tasks.findAll { t -> t in embedTasks }]
            [meta + rep, byId[m.dataset][1], embedding]
        }

    // PCA baseline: one per dataset with a task it is scored on, with the first seed
    def ch_pca_datasets = ch_datasets
        .filter { meta, _h5ad -> names.pca in enabled_baselines && meta.tasks.any { t -> t in onTasks.pca } }
    CELLBENCH_BASELINE(
        ch_pca_datasets.map { meta, h5ad -> [slim(meta + [seed: seeds[0]], 'baseline'), h5ad] }
    )
    ch_versions = ch_versions.mix(CELLBENCH_BASELINE.out.versions)
    def ch_pca_reps = CELLBENCH_BASELINE.out.h5ad
        .map { meta, pca ->
            def dataset = byId[meta.id]
            def rep = [model: names.pca, obsm_key: 'X_pca', layer: null, baseline: true,
                       tasks: dataset[0].tasks.findAll { t -> t in onTasks.pca }]
            [dataset[0] + rep, dataset[1], pca]
        }

    // models run here (rows with a runner), once per dataset with a task that scores an embedding, with
    // the first seed: [ meta (dataset + model row + seed), h5ad, weights or [] ]
    def runs = models
        .findAll { m, _embedding, _prediction -> m.runner && byId[m.dataset][0].tasks.any { t -> t in embedTasks } }
        .collect { m, _embedding, _prediction ->
            def run = [model: m.model, runner: m.runner, image: m.image, image_digest: m.image_digest,
                       command: m.command, seed: seeds[0]]
            [byId[m.dataset][0] + run, byId[m.dataset][1], m.weights ?: []]
        }
    def ch_runs = channel.fromList(runs)
    CELLBENCH_MODEL_HARMONY(
        ch_runs
            .filter { meta, _h5ad, _weights -> meta.runner == 'harmony' }
            .map { meta, h5ad, _weights -> [slim(meta, 'model_harmony'), h5ad] }
    )
    CELLBENCH_MODEL_SCVI(
        ch_runs
            .filter { meta, _h5ad, _weights -> meta.runner == 'scvi' }
            .map { meta, h5ad, _weights -> [slim(meta, 'model_scvi'), h5ad] }
    )
    // a model's own image (the container contract, docs/models.md), then its output checked, aligned to
    // the dataset's cells and given its provenance by cellbench model-check
    MODEL_CONTAINER(
        ch_runs
            .filter { meta, _h5ad, _weights -> meta.runner == 'container' }
            .map { meta, h5ad, weights -> [slim(meta, 'model_container'), h5ad, weights] }
    )
    def runByKey = runs.collectEntries { meta, h5ad, weights -> [([meta.id, meta.model]): [meta, h5ad, weights]] }
    CELLBENCH_MODEL_CHECK(
        MODEL_CONTAINER.out.raw.map { meta, raw ->
            def run = runByKey[[meta.id, meta.model]]
            [slim(run[0], 'model_check'), run[1], raw, run[2]]
        }
    )
    ch_versions = ch_versions.mix(
        CELLBENCH_MODEL_HARMONY.out.versions, CELLBENCH_MODEL_SCVI.out.versions,
        MODEL_CONTAINER.out.versions, CELLBENCH_MODEL_CHECK.out.versions
    )
    // their representations join the others exactly like the PCA baseline's: obsm['X_emb'] of the model file
    def ch_model_outputs = CELLBENCH_MODEL_HARMONY.out.h5ad
        .mix(CELLBENCH_MODEL_SCVI.out.h5ad, CELLBENCH_MODEL_CHECK.out.h5ad)
    def ch_run_reps = ch_model_outputs
        .map { meta, embedding ->
            def dataset = byId[meta.id]
            def rep = [model: meta.model, obsm_key: 'X_emb', layer: null, baseline: false,
                       tasks: dataset[0].tasks.findAll { t -> t in embedTasks }]
            [dataset[0] + rep, dataset[1], embedding]
        }

    // raw-expression baseline: the counts (counts_layer, else X) of the dataset itself
    def raw_reps = datasets
        .findAll { meta, _h5ad -> names.raw in enabled_baselines && meta.tasks.any { t -> t in onTasks.raw } }
        .collect { meta, h5ad ->
            def rep = [model: names.raw, obsm_key: null, layer: meta.counts_layer, baseline: true,
                       tasks: meta.tasks.findAll { t -> t in onTasks.raw }]
            [meta + rep, h5ad, []]
        }

    // ---- one extract per representation with a task; it comes back with the representation's meta
    def ch_reps = channel.fromList(model_reps + raw_reps)
        .mix(ch_pca_reps, ch_run_reps)
        .filter { meta, _h5ad, _embedding -> meta.tasks }
    CELLBENCH_EXTRACT(
        ch_reps.map { meta, h5ad, embedding -> [slim(meta + [obs_keys: extractObsKeys(meta)], 'extract'), h5ad, embedding] }
    )
    ch_versions = ch_versions.mix(CELLBENCH_EXTRACT.out.versions)
    def ch_extracts = ch_reps
        .map { meta, _h5ad, _embedding -> [[meta.id, meta.model], meta] }
        .join(CELLBENCH_EXTRACT.out.h5ad.map { meta, extract -> [[meta.id, meta.model], extract] })
        .map { _key, meta, extract -> [meta, extract] }

    // ---- units: representation x seed, [ meta (representation + seed), extract ]
    def ch_units = ch_extracts
        .combine(ch_seeds)
        .map { meta, extract, seed -> [meta + [seed: seed], extract] }

    def ch_datasets_seeded = ch_datasets
        .combine(ch_seeds)
        .map { meta, h5ad, seed -> [meta + [seed: seed], h5ad] }

    EMBEDDING_TASKS(ch_units)
    ch_versions = ch_versions.mix(EMBEDDING_TASKS.out.versions)

    LABEL_PREDICTION(
        ch_datasets_seeded.filter { meta, _h5ad -> 'label_prediction' in meta.tasks },
        ch_units.filter { meta, _extract -> 'label_prediction' in meta.tasks },
        classifiers,
        n_folds
    )
    ch_versions = ch_versions.mix(LABEL_PREDICTION.out.versions)

    CROSS_SPECIES(
        ch_units.filter { meta, _extract ->
            meta.tasks.any { t -> t in ['cross_species_integration', 'cross_species_label'] }
        },
        speciesGroupSizes(datasets, models, enabled_baselines)
    )
    ch_versions = ch_versions.mix(CROSS_SPECIES.out.versions)

    // perturbation: model predictions and the baselines, per seed
    def perturbation_datasets = datasets.findAll { meta, _h5ad -> 'perturbation' in meta.tasks }
    def model_predictions = models
        .findAll { m, _embedding, prediction -> prediction && 'perturbation' in byId[m.dataset][0].tasks }
        .collect { m, _embedding, prediction ->
            [byId[m.dataset][0] + [model: m.model, layer: m.layer, baseline: false], prediction]
        }
    def baseline_predictions = perturbation_datasets.collectMany { meta, _h5ad ->
        [names.no_change, names.other_mean]
            .findAll { b -> b in enabled_baselines }
            .collect { b -> [meta + [model: b, layer: null, baseline: true], []] }
    }
    def ch_predictions = channel.fromList(model_predictions + baseline_predictions)
        .combine(ch_seeds)
        .map { meta, prediction, seed -> [meta + [seed: seed], prediction] }

    PERTURBATION(
        ch_datasets_seeded.filter { meta, _h5ad -> 'perturbation' in meta.tasks },
        ch_predictions
    )
    ch_versions = ch_versions.mix(PERTURBATION.out.versions)

    // ---- gather
    def ch_results = EMBEDDING_TASKS.out.result
        .mix(LABEL_PREDICTION.out.result, CROSS_SPECIES.out.result, PERTURBATION.out.result)

    CELLBENCH_AGGREGATE(
        ch_results
            .map { _meta, json -> json }
            .collect(sort: { a, b -> a.name <=> b.name })
    )
    CELLBENCH_REPORT(CELLBENCH_AGGREGATE.out.tsv)
    ch_versions = ch_versions.mix(CELLBENCH_AGGREGATE.out.versions, CELLBENCH_REPORT.out.versions)

    // software versions of every process, as MultiQC's software_versions section and in pipeline_info/
    def ch_versions_yml = ch_versions
        .map { proc, tool, version -> [proc.toString().tokenize(':').last(), "    ${tool}: ${version}".toString()] }
        .unique()
        .groupTuple(by: 0)
        .map { proc, lines -> "${proc}:\n${lines.unique().sort().join('\n')}".toString() }
        .mix(channel.of("Workflow:\n    cellbench: ${workflow.manifest.version}\n    Nextflow: ${workflow.nextflow.version}".toString()))
        .collectFile(storeDir: "${params.outdir}/pipeline_info", name: 'cellbench_software_mqc_versions.yml', newLine: true, sort: true)

    def ch_multiqc_report = channel.empty()
    if (!skip_multiqc) {
        // pipeline defaults first, then the report's own (title, section order); the user's config last
        def ch_multiqc_configs = channel.fromPath("${projectDir}/assets/multiqc_config.yml", checkIfExists: true)
            .concat(CELLBENCH_REPORT.out.multiqc_config)
            .collect()
        MULTIQC(
            CELLBENCH_REPORT.out.mqc.flatten().mix(ch_versions_yml).collect(sort: { a, b -> a.name <=> b.name }),
            ch_multiqc_configs,
            multiqc_config,
            multiqc_logo,
            [],
            []
        )
        ch_multiqc_report = MULTIQC.out.report
    }

    emit:
    results            = ch_results                               // channel: [ meta, result.json ]
    folds              = LABEL_PREDICTION.out.folds               // channel: [ meta, folds.tsv ]
    pca_baselines      = CELLBENCH_BASELINE.out.h5ad              // channel: [ meta, pca.h5ad ]
    model_outputs      = ch_model_outputs                         // channel: [ meta, model.h5ad ] (rows with a runner)
    perturbation_truth = PERTURBATION.out.prepared                // channel: [ meta, prepared.h5ad ]
    aggregate          = CELLBENCH_AGGREGATE.out.tsv.mix(CELLBENCH_AGGREGATE.out.parquet)
    report             = CELLBENCH_REPORT.out.comparison.mix(CELLBENCH_REPORT.out.plots.flatten(), CELLBENCH_REPORT.out.mqc.flatten())
    multiqc_report     = ch_multiqc_report
    versions           = ch_versions_yml                          // channel: software versions YAML
}
