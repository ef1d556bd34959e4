process CELLBENCH_MODEL_CHECK {
    tag "${meta.id}:${meta.model}"
    label 'process_single'
    label 'cellbench'

    conda "${moduleDir}/../environment.yml"
    container 'ghcr.io/cellbench/cellbench:0.1.0'

    input:
    // the dataset, what the model's container wrote (MODEL_CONTAINER) and the weights it read, if any
    tuple val(meta), path(h5ad), path(raw, stageAs: 'raw/*'), path(weights, stageAs: 'weights/*')

    output:
    tuple val(meta), path("*.model.h5ad"), emit: h5ad
    tuple val("${task.process}"), val('cellbench'), eval('cellbench --version | sed "s/.* //"'), emit: versions

    script:
    def args = task.ext.args ?: ''
    def prefix = task.ext.prefix ?: "${meta.id}__${meta.model}"
    def digest = meta.image_digest ? "--image-digest '${meta.image_digest}'" : ''
    def weights_arg = weights ? "--weights '${weights}'" : ''
    """
    cellbench model-check \\
        --input '${h5ad}' \\
        --embedding '${raw}' \\
        --model '${meta.model}' \\
        --dataset-name '${meta.id}' \\
        --image '${meta.image}' \\
        ${digest} \\
        ${weights_arg} \\
        --seed '${meta.seed}' \\
        --command '${meta.command}' \\
        ${args} \\
        --output '${prefix}.model.h5ad'
    """

    stub:
    def prefix = task.ext.prefix ?: "${meta.id}__${meta.model}"
    """
    touch '${prefix}.model.h5ad'
    """
}
