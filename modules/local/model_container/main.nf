process MODEL_CONTAINER {
    tag "${meta.id}:${meta.model}"
    label 'process_medium'
    label 'process_gpu'

    // the model's own image (models samplesheet column `image`); it needs nothing of cellbench
    container "${meta.image}"

    input:
    // the dataset, and the model's weights (a file or a folder) when the row names them
    tuple val(meta), path(h5ad), path(weights, stageAs: 'weights/*')

    output:
    tuple val(meta), path("*.raw.h5ad"), emit: raw
    tuple val("${task.process}"), val("${meta.model}"), val("${meta.image}"), emit: versions

    script:
    // the container contract (docs/models.md): <command> --input --output --seed --device --batch-size
    // [--weights]; --device and --batch-size come from params through ext.args (conf/modules.config).
    // meta.command is words of [A-Za-z0-9_./:=+-] (assets/schema_models.json), each single-quoted here
    def args = task.ext.args ?: ''
    def prefix = task.ext.prefix ?: "${meta.id}__${meta.model}"
    def command = meta.command.tokenize(' ').collect { w -> "'${w}'" }.join(' ')
    def weights_arg = weights ? "--weights '${weights}'" : ''
    """
    ${command} \\
        --input '${h5ad}' \\
        --output '${prefix}.raw.h5ad' \\
        --seed '${meta.seed}' \\
        ${weights_arg} \\
        ${args}
    """

    stub:
    def prefix = task.ext.prefix ?: "${meta.id}__${meta.model}"
    """
    touch '${prefix}.raw.h5ad'
    """
}
