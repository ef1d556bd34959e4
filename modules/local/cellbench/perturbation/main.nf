process CELLBENCH_PERTURBATION {
    tag "${meta.id}:${meta.model}:s${meta.seed}"
    label 'process_single'
    label 'cellbench'

    conda "${moduleDir}/../environment.yml"
    container 'ghcr.io/cellbench/cellbench:0.1.0'

    input:
    tuple val(meta), path(prepared), path(prediction, stageAs: 'prediction/*')

    output:
    tuple val(meta), path("*.json"), emit: result
    tuple val("${task.process}"), val('cellbench'), eval('cellbench --version | sed "s/.* //"'), emit: versions

    script:
    def args = task.ext.args ?: ''
    def prefix = task.ext.prefix ?: "${meta.id}__${meta.model}__perturbation__s${meta.seed}"
    // a model's predicted expression, or one of the baselines (no_change, other_mean) computed from the truth
    def source = meta.baseline ? "--baseline '${meta.model}'" : "--prediction '${prediction}'"
    def layer = meta.layer ? "--layer '${meta.layer}'" : ''
    """
    cellbench perturbation \\
        --prepared '${prepared}' \\
        ${source} \\
        ${layer} \\
        --dataset-name '${meta.id}' \\
        --model-name '${meta.model}' \\
        --seed '${meta.seed}' \\
        --threads ${task.cpus} \\
        ${args} \\
        --output '${prefix}.json'
    """

    stub:
    def prefix = task.ext.prefix ?: "${meta.id}__${meta.model}__perturbation__s${meta.seed}"
    """
    echo '{}' > '${prefix}.json'
    """
}
