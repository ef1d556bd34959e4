process CELLBENCH_CROSS_SPECIES_LABEL {
    tag "${meta.id}:${meta.model}:${meta.train_species}>${meta.test_species}:s${meta.seed}"
    label 'process_single'
    label 'cellbench'

    conda "${moduleDir}/../environment.yml"
    container 'ghcr.io/cellbench/cellbench:0.1.0'

    input:
    // the extracts (CELLBENCH_EXTRACT) of the pair's species only (one for train = test), in the order of meta.species
    tuple val(meta), path(extracts, stageAs: 'species?/*')

    output:
    tuple val(meta), path("*.json"), emit: result
    tuple val("${task.process}"), val('cellbench'), eval('cellbench --version | sed "s/.* //"'), emit: versions

    script:
    def args = task.ext.args ?: ''
    def prefix = task.ext.prefix ?: "${meta.id}__${meta.model}__cross_species_label_${meta.train_species}_${meta.test_species}__s${meta.seed}"
    def inputs = [extracts].flatten().collect { f -> "--input '${f}'" }.join(' ')
    def species = meta.species.collect { s -> "--species '${s}'" }.join(' ')
    def label_keys = meta.label_keys.collect { k -> "--label-key '${k}'" }.join(' ')
    def sample_keys = meta.sample_keys ? meta.sample_keys.collect { k -> "--sample-key '${k}'" }.join(' ') : ''
    """
    cellbench cross-species-label \\
        ${inputs} \\
        ${species} \\
        ${label_keys} \\
        ${sample_keys} \\
        --dataset-name '${meta.id}' \\
        --model-name '${meta.model}' \\
        --train-species '${meta.train_species}' \\
        --test-species '${meta.test_species}' \\
        --seed '${meta.seed}' \\
        --threads ${task.cpus} \\
        ${args} \\
        --output '${prefix}.json'
    """

    stub:
    def prefix = task.ext.prefix ?: "${meta.id}__${meta.model}__cross_species_label_${meta.train_species}_${meta.test_species}__s${meta.seed}"
    """
    echo '{}' > '${prefix}.json'
    """
}
