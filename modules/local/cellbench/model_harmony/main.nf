process CELLBENCH_MODEL_HARMONY {
    tag "${meta.id}:${meta.model}"
    label 'process_medium'
    label 'cellbench'

    conda "${moduleDir}/../environment.yml"
    container 'ghcr.io/cellbench/cellbench:0.1.0'

    input:
    // the dataset: raw counts in X or in meta.counts_layer, batches in obs[meta.batch_key]
    tuple val(meta), path(h5ad)

    output:
    tuple val(meta), path("*.model.h5ad"), emit: h5ad
    tuple val("${task.process}"), val('cellbench'), eval('cellbench --version | sed "s/.* //"'), emit: versions

    script:
    def args = task.ext.args ?: ''
    def prefix = task.ext.prefix ?: "${meta.id}__${meta.model}"
    def layer = meta.counts_layer ? "--counts-layer '${meta.counts_layer}'" : ''
    """
    cellbench model-harmony \\
        --input '${h5ad}' \\
        --batch-key '${meta.batch_key}' \\
        ${layer} \\
        --seed '${meta.seed}' \\
        --threads ${task.cpus} \\
        --model-name '${meta.model}' \\
        --dataset-name '${meta.id}' \\
        ${args} \\
        --output '${prefix}.model.h5ad'
    """

    stub:
    def prefix = task.ext.prefix ?: "${meta.id}__${meta.model}"
    """
    touch '${prefix}.model.h5ad'
    """
}
