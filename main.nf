#!/usr/bin/env nextflow
/*
 * cellbench: score single-cell foundation model outputs on the cz-benchmarks task suite, at scale.
 *
 *   nextflow run . -profile test,docker
 *   nextflow run . --input datasets.csv --models models.csv --outdir results -profile docker -resume
 *
 * Entry workflow only: validate parameters, read the samplesheets, run CELLBENCH, publish outputs.
 * docs/pipeline.md says how to run it; workflows/cellbench.nf holds the work.
 */

include { validateParameters; paramsSummaryLog         } from 'plugin/nf-schema'
include { CELLBENCH                                    } from './workflows/cellbench'
include { readDatasets; readModels; parseSeeds; parseList } from './subworkflows/local/utils_cellbench'

workflow {

    main:
    if (params.validate_params) {
        validateParameters()
    }
    log.info(paramsSummaryLog(workflow))

    def datasets = readDatasets(params.input, params.catalog)
    def models   = params.models ? readModels(params.models, datasets) : []

    CELLBENCH(
        channel.fromList(datasets),
        channel.fromList(models),
        parseSeeds(params.seeds),
        parseList(params.baselines),
        parseList(params.classifiers),
        params.n_folds,
        params.skip_multiqc,
        params.multiqc_config ? file(params.multiqc_config, checkIfExists: true) : [],
        params.multiqc_logo ? file(params.multiqc_logo, checkIfExists: true) : []
    )

    publish:
    results      = CELLBENCH.out.results
    folds        = CELLBENCH.out.folds
    baselines    = CELLBENCH.out.baselines
    perturbation = CELLBENCH.out.perturbation_truth
    aggregate    = CELLBENCH.out.aggregate
    report       = CELLBENCH.out.report
    multiqc      = CELLBENCH.out.multiqc_report
    versions     = CELLBENCH.out.versions
}

output {
    // one result JSON per unit of work: <dataset>__<model>__<task>[_<variant>]__s<seed>.json
    results {
        path 'results'
    }
    // what the units of work share: CV folds, PCA baselines, perturbation truth (DE, control map)
    folds {
        path 'prepared/folds'
    }
    baselines {
        path 'prepared/baselines'
    }
    perturbation {
        path 'prepared/perturbation'
    }
    // aggregate.tsv / aggregate.parquet: every metric, mean / sd / CI over seeds
    aggregate {
        path 'aggregate'
    }
    // comparison.tsv, plots/, MultiQC custom content
    report {
        path 'report'
    }
    multiqc {
        path 'multiqc'
    }
    versions {
        path 'pipeline_info'
    }
}
