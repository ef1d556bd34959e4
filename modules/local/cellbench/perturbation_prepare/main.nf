process CELLBENCH_PERTURBATION_PREPARE {
    tag "${meta.id}:s${meta.seed}"
    label 'process_medium'
    label 'cellbench'

    conda "${moduleDir}/../environment.yml"
    container 'ghcr.io/cellbench/cellbench:0.1.0'

    input:
    tuple val(meta), path(h5ad)

    output:
    tuple val(meta), path("*.prepared.h5ad"), emit: prepared
    tuple val("${task.process}"), val('cellbench'), eval('cellbench --version | sed "s/.* //"'), emit: versions

    script:
    def args = task.ext.args ?: ''
    def prefix = task.ext.prefix ?: "${meta.id}__s${meta.seed}"
    def layer = meta.counts_layer ? "--layer '${meta.counts_layer}'" : ''
    def match_key = meta.match_key ? "--match-key '${meta.match_key}'" : ''
    def obs_query = meta.obs_query ? "--obs-query '${meta.obs_query}'" : ''
    """
    cellbench perturbation-prepare \\
        --input '${h5ad}' \\
        --dataset-name '${meta.id}' \\
        ${layer} \\
        --condition-key '${meta.condition_key}' \\
        --control-name '${meta.control_name}' \\
        ${match_key} \\
        ${obs_query} \\
        --seed '${meta.seed}' \\
        --threads ${task.cpus} \\
        ${args} \\
        --output '${prefix}.prepared.h5ad'
    """

    stub:
    def prefix = task.ext.prefix ?: "${meta.id}__s${meta.seed}"
    """
    touch '${prefix}.prepared.h5ad'
    """
}
