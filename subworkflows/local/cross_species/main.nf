/*
 * Cross-species tasks. The datasets of one species_group are one species each (organism = species
 * name); each is embedded separately, by a model or by the PCA baseline.
 *   integration: per (group, model, seed), every species' representation stacked (batch = species)
 *   label:       per (group, model, seed, train species, test species), every ordered pair; train =
 *                test is cross-validation within the species
 * A group is gathered as soon as its last species is there (groupKey with the group's size, known
 * from the samplesheets), not at the end of the run.
 */

include { CELLBENCH_CROSS_SPECIES_INTEGRATION } from '../../../modules/local/cellbench/cross_species_integration'
include { CELLBENCH_CROSS_SPECIES_LABEL       } from '../../../modules/local/cellbench/cross_species_label'
include { slim                                } from '../utils_cellbench'

// [ meta, h5ad, embedding or [] ] of one representation per species -> one group tuple, species in
// name order (a fixed order keeps task hashes, and so -resume, stable)
def speciesGroup(key, metas, h5ads, embeddings) {
    def order = (0..<metas.size()).toList().sort { i -> metas[i].organism }
    def ms = order.collect { i -> metas[i] }
    def species = ms.collect { m -> m.organism }
    def where = "species_group '${key[0]}', model '${key[1]}'"
    if (species.unique(false).size() != species.size()) {
        error("${where}: two datasets of the same organism (${species.join(', ')}); give one dataset per species")
    }
    def withFile = order.count { i -> embeddings[i] }
    if (withFile != 0 && withFile != order.size()) {
        error("${where}: give every species an embedding file, or none (then obsm_key/layer of each dataset)")
    }
    if (ms.collect { m -> [m.obsm_key, m.layer] }.unique().size() != 1) {
        error("${where}: obsm_key and layer must be the same for every species")
    }
    def meta = [
        id         : key[0],
        model      : key[1],
        seed       : key[2],
        species    : species,
        label_keys : ms.collect { m -> m.label_key },
        sample_keys: ms.every { m -> m.sample_key } ? ms.collect { m -> m.sample_key } : null,
        obsm_key   : ms[0].obsm_key,
        layer      : ms[0].layer,
    ]
    return [meta, order.collect { i -> h5ads[i] }, withFile ? order.collect { i -> embeddings[i] } : []]
}

// the values at the given positions (an empty list stays empty)
def pick(values, List idx) {
    return values ? idx.collect { i -> values[i] } : values
}

// the sub-group of a group tuple holding the given species (in that order)
def subGroup(meta, h5ads, embeddings, List chosen) {
    def idx = chosen.collect { s -> meta.species.indexOf(s) }
    def sub = meta + [
        species    : chosen,
        label_keys : pick(meta.label_keys, idx),
        sample_keys: meta.sample_keys ? pick(meta.sample_keys, idx) : null,
    ]
    return [sub, pick(h5ads, idx), pick(embeddings, idx)]
}

// one group tuple per (species_group, model, seed) of the units that run the given task; sizes:
// [ species_group, model, task ] -> number of species (speciesGroupSizes() in utils_cellbench)
def groupSpecies(ch_units, String task, Map sizes) {
    return ch_units
        .filter { meta, _h5ad, _embedding -> task in meta.tasks }
        .map { meta, h5ad, embedding ->
            def n = sizes[[meta.species_group, meta.model, task]] ?: 1
            [groupKey([meta.species_group, meta.model, meta.seed], n), meta, h5ad, embedding]
        }
        .groupTuple()
        .map { key, metas, h5ads, embeddings -> speciesGroup(key.getGroupTarget(), metas, h5ads, embeddings) }
}

workflow CROSS_SPECIES {

    take:
    ch_units    // channel: [ meta (dataset, representation, seed), h5ad, embedding or [] ]
    sizes       // map: [ species_group, model, task ] -> number of species of that group

    main:
    def ch_integration = groupSpecies(ch_units, 'cross_species_integration', sizes)
        .filter { meta, _h5ads, _embeddings -> meta.species.size() >= 2 }
        .map { meta, h5ads, embeddings -> [slim(meta, 'cross_species_integration'), h5ads, embeddings] }
    CELLBENCH_CROSS_SPECIES_INTEGRATION(ch_integration)

    def ch_pairs = groupSpecies(ch_units, 'cross_species_label', sizes)
        .flatMap { meta, h5ads, embeddings ->
            [meta.species, meta.species].combinations().collect { pair ->
                def chosen = pair[0] == pair[1] ? [pair[0]] : pair
                def sub = subGroup(meta, h5ads, embeddings, chosen)
                [slim(sub[0] + [train_species: pair[0], test_species: pair[1]], 'cross_species_label'), sub[1], sub[2]]
            }
        }
    CELLBENCH_CROSS_SPECIES_LABEL(ch_pairs)

    emit:
    result   = CELLBENCH_CROSS_SPECIES_INTEGRATION.out.result.mix(CELLBENCH_CROSS_SPECIES_LABEL.out.result)
    versions = CELLBENCH_CROSS_SPECIES_INTEGRATION.out.versions.mix(CELLBENCH_CROSS_SPECIES_LABEL.out.versions)
}
