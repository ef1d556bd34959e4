process CELLBENCH_INTEGRATION {
    tag "${meta.id}:${meta.model}:s${meta.seed}"
    label 'process_single'
    label 'cellbench'

    conda "${moduleDir}/../environment.yml"
    container 'ghcr.io/cellbench/cellbench:0.1.0'

    input:
    tuple val(meta), path(h5ad), path(embedding, stageAs: 'representation/*')

    output:
    tuple val(meta), path("*.json"), emit: result
    tuple val("${task.process}"), val('cellbench'), eval('cellbench --version | sed "s/.* //"'), emit: versions

    script:
    def args = task.ext.args ?: ''
    def prefix = task.ext.prefix ?: "${meta.id}__${meta.model}__integration__s${meta.seed}"
    def representation = embedding ? "--embedding '${embedding}'" : ''
    def obsm_key = meta.obsm_key ? "--obsm-key '${meta.obsm_key}'" : ''
    def layer = meta.layer ? "--layer '${meta.layer}'" : ''
    """
    cellbench integration \\
        --input '${h5ad}' \\
        --dataset-name '${meta.id}' \\
        ${representation} \\
        ${obsm_key} \\
        ${layer} \\
        --model-name '${meta.model}' \\
        --label-key '${meta.label_key}' \\
        --batch-key '${meta.batch_key}' \\
        --seed '${meta.seed}' \\
        --threads ${task.cpus} \\
        ${args} \\
        --output '${prefix}.json'
    """

    stub:
    def prefix = task.ext.prefix ?: "${meta.id}__${meta.model}__integration__s${meta.seed}"
    """
    echo '{}' > '${prefix}.json'
    """
}
