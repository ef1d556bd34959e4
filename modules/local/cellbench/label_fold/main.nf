process CELLBENCH_LABEL_FOLD {
    tag "${meta.id}:${meta.model}:${meta.classifier}:f${meta.fold}:s${meta.seed}"
    label 'process_single'
    label 'cellbench'

    conda "${moduleDir}/../environment.yml"
    container 'ghcr.io/cellbench/cellbench:0.1.0'

    input:
    // the compact extract of this dataset x representation (CELLBENCH_EXTRACT): the representation is its X
    tuple val(meta), path(extract), path(folds)

    output:
    tuple val(meta), path("*.json"), emit: result
    tuple val("${task.process}"), val('cellbench'), eval('cellbench --version | sed "s/.* //"'), emit: versions

    script:
    def args = task.ext.args ?: ''
    def prefix = task.ext.prefix ?: "${meta.id}__${meta.model}__label_fold_${meta.classifier}_${meta.fold}__s${meta.seed}"
    """
    cellbench label-fold \\
        --input '${extract}' \\
        --dataset-name '${meta.id}' \\
        --model-name '${meta.model}' \\
        --folds '${folds}' \\
        --fold '${meta.fold}' \\
        --classifier '${meta.classifier}' \\
        --seed '${meta.seed}' \\
        --threads ${task.cpus} \\
        ${args} \\
        --output '${prefix}.json'
    """

    stub:
    def prefix = task.ext.prefix ?: "${meta.id}__${meta.model}__label_fold_${meta.classifier}_${meta.fold}__s${meta.seed}"
    """
    echo '{}' > '${prefix}.json'
    """
}
