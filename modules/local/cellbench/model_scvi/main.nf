process CELLBENCH_MODEL_SCVI {
    tag "${meta.id}:${meta.model}"
    label 'process_medium'
    label 'process_gpu'
    // its own image (torch, scvi-tools): params.scvi_container, set by conf/modules.config
    label 'cellbench_scvi'

    conda "${moduleDir}/environment.yml"
    container 'ghcr.io/cellbench/cellbench-scvi:0.1.0'

    input:
    // the dataset: raw counts in X or in meta.counts_layer; batches in obs[meta.batch_key] when set
    tuple val(meta), path(h5ad)

    output:
    tuple val(meta), path("*.model.h5ad"), emit: h5ad
    tuple val("${task.process}"), val('cellbench'), eval('cellbench --version | sed "s/.* //"'), emit: versions

    script:
    // (scvi-tools, torch and the other package versions go into the output's uns['cellbench_model'])
    // --n-latent, --max-epochs and --device come from params through ext.args (conf/modules.config)
    def args = task.ext.args ?: ''
    def prefix = task.ext.prefix ?: "${meta.id}__${meta.model}"
    def batch = meta.batch_key ? "--batch-key '${meta.batch_key}'" : ''
    def layer = meta.counts_layer ? "--counts-layer '${meta.counts_layer}'" : ''
    """
    cellbench model-scvi \\
        --input '${h5ad}' \\
        ${batch} \\
        ${layer} \\
        --seed '${meta.seed}' \\
        --threads ${task.cpus} \\
        --model-name '${meta.model}' \\
        --dataset-name '${meta.id}' \\
        ${args} \\
        --output '${prefix}.model.h5ad'
    """

    stub:
    def prefix = task.ext.prefix ?: "${meta.id}__${meta.model}"
    """
    touch '${prefix}.model.h5ad'
    """
}
