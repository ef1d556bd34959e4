process CELLBENCH_LABEL_MERGE {
    tag "${meta.id}:${meta.model}:s${meta.seed}"
    label 'process_single'
    label 'cellbench'

    conda "${moduleDir}/../environment.yml"
    container 'ghcr.io/cellbench/cellbench:0.1.0'

    input:
    tuple val(meta), path(fold_results, stageAs: 'folds/*')

    output:
    tuple val(meta), path("*.json"), emit: result
    tuple val("${task.process}"), val('cellbench'), eval('cellbench --version | sed "s/.* //"'), emit: versions

    script:
    def args = task.ext.args ?: ''
    def prefix = task.ext.prefix ?: "${meta.id}__${meta.model}__label_prediction__s${meta.seed}"
    def inputs = [fold_results].flatten().collect { f -> "'${f}'" }.join(' ')
    """
    cellbench label-merge \\
        --threads ${task.cpus} \\
        ${args} \\
        --output '${prefix}.json' \\
        ${inputs}
    """

    stub:
    def prefix = task.ext.prefix ?: "${meta.id}__${meta.model}__label_prediction__s${meta.seed}"
    """
    echo '{}' > '${prefix}.json'
    """
}
