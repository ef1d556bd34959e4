process CELLBENCH_CLUSTERING {
    tag "${meta.id}:${meta.model}:s${meta.seed}"
    label 'process_single'
    label 'cellbench'

    conda "${moduleDir}/../environment.yml"
    container 'ghcr.io/cellbench/cellbench:0.1.0'

    input:
    // the compact extract of this dataset x representation (CELLBENCH_EXTRACT): the representation is its X
    tuple val(meta), path(extract)

    output:
    tuple val(meta), path("*.json"), emit: result
    tuple val("${task.process}"), val('cellbench'), eval('cellbench --version | sed "s/.* //"'), emit: versions

    script:
    def args = task.ext.args ?: ''
    def prefix = task.ext.prefix ?: "${meta.id}__${meta.model}__clustering__s${meta.seed}"
    """
    cellbench clustering \\
        --input '${extract}' \\
        --dataset-name '${meta.id}' \\
        --model-name '${meta.model}' \\
        --label-key '${meta.label_key}' \\
        --seed '${meta.seed}' \\
        --threads ${task.cpus} \\
        ${args} \\
        --output '${prefix}.json'
    """

    stub:
    def prefix = task.ext.prefix ?: "${meta.id}__${meta.model}__clustering__s${meta.seed}"
    """
    echo '{}' > '${prefix}.json'
    """
}
