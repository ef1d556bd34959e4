process CELLBENCH_EXTRACT {
    tag "${meta.id}:${meta.model}"
    label 'process_single'
    label 'cellbench'

    conda "${moduleDir}/../environment.yml"
    container 'ghcr.io/cellbench/cellbench:0.1.0'

    input:
    // the dataset, and the representation's own file when it has one (a model's embedding, the PCA baseline)
    tuple val(meta), path(h5ad), path(embedding, stageAs: 'representation/*')

    output:
    tuple val(meta), path("*.extract.h5ad"), emit: h5ad
    tuple val("${task.process}"), val('cellbench'), eval('cellbench --version | sed "s/.* //"'), emit: versions

    script:
    def args = task.ext.args ?: ''
    def prefix = task.ext.prefix ?: "${meta.id}__${meta.model}"
    def representation = embedding ? "--embedding '${embedding}'" : ''
    def obsm_key = meta.obsm_key ? "--obsm-key '${meta.obsm_key}'" : ''
    def layer = meta.layer ? "--layer '${meta.layer}'" : ''
    def obs_keys = meta.obs_keys.collect { k -> "--obs-key '${k}'" }.join(' ')
    """
    cellbench extract \\
        --input '${h5ad}' \\
        ${representation} \\
        ${obsm_key} \\
        ${layer} \\
        ${obs_keys} \\
        ${args} \\
        --output '${prefix}.extract.h5ad'
    """

    stub:
    def prefix = task.ext.prefix ?: "${meta.id}__${meta.model}"
    """
    touch '${prefix}.extract.h5ad'
    """
}
