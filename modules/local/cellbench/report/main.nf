process CELLBENCH_REPORT {
    tag "report"
    label 'process_single'
    label 'cellbench'

    conda "${moduleDir}/../environment.yml"
    container 'ghcr.io/cellbench/cellbench:0.1.0'

    input:
    path table

    output:
    path "report/*_mqc.*"              , emit: mqc
    path "report/multiqc_config.yaml"  , emit: multiqc_config
    path "report/comparison.tsv"       , emit: comparison
    path "report/plots/*"              , emit: plots
    tuple val("${task.process}"), val('cellbench'), eval('cellbench --version | sed "s/.* //"'), emit: versions

    script:
    def args = task.ext.args ?: ''
    // MultiQC itself runs in its own process (modules/nf-core/multiqc) on the *_mqc files written here
    """
    cellbench report \\
        --results '${table}' \\
        --outdir report \\
        --no-multiqc \\
        --threads ${task.cpus} \\
        ${args}
    """

    stub:
    """
    mkdir -p report/plots
    touch report/cellbench_overview_mqc.html report/multiqc_config.yaml report/comparison.tsv report/plots/heatmap.png
    """
}
