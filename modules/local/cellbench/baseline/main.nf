process CELLBENCH_BASELINE {
    tag "${meta.id}:pca"
    label 'process_medium'
    label 'cellbench'

    conda "${moduleDir}/../environment.yml"
    container 'ghcr.io/cellbench/cellbench:0.1.0'

    input:
    tuple val(meta), path(h5ad)

    output:
    tuple val(meta), path("*.pca.h5ad"), emit: h5ad
    tuple val("${task.process}"), val('cellbench'), eval('cellbench --version | sed "s/.* //"'), emit: versions

    script:
    def args = task.ext.args ?: ''
    def prefix = task.ext.prefix ?: "${meta.id}"
    def layer = meta.counts_layer ? "--layer '${meta.counts_layer}'" : ''
    """
    cellbench baseline \\
        --input '${h5ad}' \\
        --method pca \\
        ${layer} \\
        --seed '${meta.seed}' \\
        --threads ${task.cpus} \\
        ${args} \\
        --output '${prefix}.pca.h5ad'
    """

    stub:
    def prefix = task.ext.prefix ?: "${meta.id}"
    """
    touch '${prefix}.pca.h5ad'
    """
}
