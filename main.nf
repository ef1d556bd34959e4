#!/usr/bin/env nextflow
/*
 * cellbench: score single-cell foundation model outputs on the cz-benchmarks task suite, at scale.
 *
 *   nextflow run . -profile test,docker --outdir results
 *   nextflow run . --input datasets.csv --models models.csv --outdir results -profile docker -resume
 *   nextflow run . --help
 *
 * Entry workflow only: check the parameters, read the samplesheets, run CELLBENCH. Results are
 * published by publishDir (conf/modules.config). docs/pipeline.md says how to run it;
 * workflows/cellbench.nf holds the work. Runs on Nextflow >= 24.10 without plugins.
 */

include { CELLBENCH } from './workflows/cellbench'
include { validateParameters; paramsHelp; paramsSummaryLog; readDatasets; readModels } from './subworkflows/local/utils_cellbench'
include { parseSeeds; parseList; intParam; boolParam; completionSummary              } from './subworkflows/local/utils_cellbench'

workflow {

    main:
    if (params.help && params.help.toString() != 'false') {
        log.info(paramsHelp(params.help))
    }
    else {
        if (boolParam(params.validate_params, 'validate_params')) {
            validateParameters()
        }
        log.info(paramsSummaryLog())

        def datasets = readDatasets(params.input, params.catalog)
        def models   = params.models ? readModels(params.models, datasets) : []

        CELLBENCH(
            datasets,
            models,
            parseSeeds(params.seeds),
            parseList(params.baselines),
            parseList(params.classifiers),
            intParam(params.n_folds, 'n_folds'),
            boolParam(params.skip_multiqc, 'skip_multiqc'),
            params.multiqc_config ? file(params.multiqc_config, checkIfExists: true) : [],
            params.multiqc_logo ? file(params.multiqc_logo, checkIfExists: true) : []
        )

        workflow.onComplete { completionSummary() }
    }
}
