process CELLBENCH_AGGREGATE {
    tag "all results"
    label 'process_single'
    label 'cellbench'

    conda "${moduleDir}/../environment.yml"
    container 'ghcr.io/cellbench/cellbench:0.1.0'

    input:
    path results, stageAs: 'results/*'

    output:
    path "*.tsv"    , emit: tsv
    path "*.parquet", emit: parquet
    tuple val("${task.process}"), val('cellbench'), eval('cellbench --version | sed "s/.* //"'), emit: versions

    script:
    def args = task.ext.args ?: ''
    def prefix = task.ext.prefix ?: 'aggregate'
    """
    cellbench aggregate \\
        --threads ${task.cpus} \\
        ${args} \\
        --output-prefix '${prefix}' \\
        results
    """

    stub:
    def prefix = task.ext.prefix ?: 'aggregate'
    """
    touch '${prefix}.tsv' '${prefix}.parquet'
    """
}
