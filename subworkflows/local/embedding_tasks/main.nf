/*
 * The tasks that score one representation of one dataset in one process: clustering, embedding,
 * batch integration and sequential organization. One task per (dataset, representation, seed, task).
 */

include { CELLBENCH_CLUSTERING  } from '../../../modules/local/cellbench/clustering'
include { CELLBENCH_EMBEDDING   } from '../../../modules/local/cellbench/embedding'
include { CELLBENCH_INTEGRATION } from '../../../modules/local/cellbench/integration'
include { CELLBENCH_SEQUENTIAL  } from '../../../modules/local/cellbench/sequential'
include { slim                  } from '../utils_cellbench'

// the units whose dataset runs the given task, with the meta fields of that task's process
def forTask(ch_units, String task) {
    return ch_units
        .filter { meta, _extract -> task in meta.tasks }
        .map { meta, extract -> [slim(meta, task), extract] }
}

workflow EMBEDDING_TASKS {

    take:
    ch_units    // channel: [ meta (dataset, representation, seed, tasks), extract of the representation ]

    main:
    CELLBENCH_CLUSTERING(forTask(ch_units, 'clustering'))
    CELLBENCH_EMBEDDING(forTask(ch_units, 'embedding'))
    CELLBENCH_INTEGRATION(forTask(ch_units, 'integration'))
    CELLBENCH_SEQUENTIAL(forTask(ch_units, 'sequential'))

    emit:
    result = CELLBENCH_CLUSTERING.out.result
        .mix(CELLBENCH_EMBEDDING.out.result)
        .mix(CELLBENCH_INTEGRATION.out.result)
        .mix(CELLBENCH_SEQUENTIAL.out.result)     // channel: [ meta, result.json ]
    versions = CELLBENCH_CLUSTERING.out.versions
        .mix(CELLBENCH_EMBEDDING.out.versions)
        .mix(CELLBENCH_INTEGRATION.out.versions)
        .mix(CELLBENCH_SEQUENTIAL.out.versions)   // channel: [ process, tool, version ]
}
