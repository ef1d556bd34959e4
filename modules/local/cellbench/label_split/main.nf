process CELLBENCH_LABEL_SPLIT {
    tag "${meta.id}:s${meta.seed}"
    label 'process_single'
    label 'cellbench'

    conda "${moduleDir}/../environment.yml"
    container 'ghcr.io/cellbench/cellbench:0.1.0'

    input:
    tuple val(meta), path(h5ad)

    output:
    tuple val(meta), path("*.folds.tsv"), emit: folds
    tuple val("${task.process}"), val('cellbench'), eval('cellbench --version | sed "s/.* //"'), emit: versions

    script:
    def args = task.ext.args ?: ''
    def prefix = task.ext.prefix ?: "${meta.id}__s${meta.seed}"
    """
    cellbench label-split \\
        --input '${h5ad}' \\
        --dataset-name '${meta.id}' \\
        --label-key '${meta.label_key}' \\
        --seed '${meta.seed}' \\
        ${args} \\
        --output '${prefix}.folds.tsv'
    """

    stub:
    def prefix = task.ext.prefix ?: "${meta.id}__s${meta.seed}"
    """
    printf '# cellbench label-split stub\\ncell_id\\tlabel\\tfold\\n' > '${prefix}.folds.tsv'
    """
}
