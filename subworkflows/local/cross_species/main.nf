/*
 * Cross-species tasks. The datasets of one species_group are one species each (organism = species
 * name); each is embedded separately, by a model or by the PCA baseline, and comes here as the
 * extract of that representation (cell ids, label and sample columns, the representation as X).
 *   integration: per (group, model, seed), every species' extract stacked (batch = species)
 *   label:       per (group, model, seed, train species, test species), every ordered pair; train =
 *                test is cross-validation within the species
 * A group is gathered as soon as its last species is there (groupKey with the group's size, known
 * from the samplesheets), not at the end of the run.
 */

include { CELLBENCH_CROSS_SPECIES_INTEGRATION } from '../../../modules/local/cellbench/cross_species_integration'
include { CELLBENCH_CROSS_SPECIES_LABEL       } from '../../../modules/local/cellbench/cross_species_label'
include { slim                                } from '../utils_cellbench'

// [ meta, extract ] of one representation per species -> one group tuple, species in name order (a
// fixed order keeps task hashes, and so -resume, stable)
def speciesGroup(key, metas, extracts) {
    def order = (0..<metas.size()).toList().sort { i -> metas[i].organism }
    def ms = order.collect { i -> metas[i] }
    def species = ms.collect { m -> m.organism }
    if (species.unique(false).size() != species.size()) {
        error("species_group '${key[0]}', model '${key[1]}': two datasets of the same organism (${species.join(', ')}); give one dataset per species")
    }
    def meta = [
        id         : key[0],
        model      : key[1],
        seed       : key[2],
        species    : species,
        label_keys : ms.collect { m -> m.label_key },
        sample_keys: ms.every { m -> m.sample_key } ? ms.collect { m -> m.sample_key } : null,
    ]
    return [meta, order.collect { i -> extracts[i] }]
}

// the sub-group of a group tuple holding the given species (in that order)
def subGroup(meta, extracts, List chosen) {
    def idx = chosen.collect { s -> meta.species.indexOf(s) }
    def sub = meta + [
        species    : chosen,
        label_keys : idx.collect { i -> meta.label_keys[i] },
        sample_keys: meta.sample_keys ? idx.collect { i -> meta.sample_keys[i] } : null,
    ]
    return [sub, idx.collect { i -> extracts[i] }]
}

// one group tuple per (species_group, model, seed) of the units that run the given task; sizes:
// [ species_group, model, task ] -> number of species (speciesGroupSizes() in utils_cellbench)
def groupSpecies(ch_units, String task, Map sizes) {
    return ch_units
        .filter { meta, _extract -> task in meta.tasks }
        .map { meta, extract ->
            def n = sizes[[meta.species_group, meta.model, task]] ?: 1
            [groupKey([meta.species_group, meta.model, meta.seed], n), meta, extract]
        }
        .groupTuple()
        .map { key, metas, extracts -> speciesGroup(key.getGroupTarget(), metas, extracts) }
}

workflow CROSS_SPECIES {

    take:
    ch_units    // channel: [ meta (dataset, representation, seed), extract of the representation ]
    sizes       // map: [ species_group, model, task ] -> number of species of that group

    main:
    def ch_integration = groupSpecies(ch_units, 'cross_species_integration', sizes)
        .filter { meta, _extracts -> meta.species.size() >= 2 }
        .map { meta, extracts -> [slim(meta, 'cross_species_integration'), extracts] }
    CELLBENCH_CROSS_SPECIES_INTEGRATION(ch_integration)

    def ch_pairs = groupSpecies(ch_units, 'cross_species_label', sizes)
        .flatMap { meta, extracts ->
            [meta.species, meta.species].combinations().collect { pair ->
                def chosen = pair[0] == pair[1] ? [pair[0]] : pair
                def sub = subGroup(meta, extracts, chosen)
                [slim(sub[0] + [train_species: pair[0], test_species: pair[1]], 'cross_species_label'), sub[1]]
            }
        }
    CELLBENCH_CROSS_SPECIES_LABEL(ch_pairs)

    emit:
    result   = CELLBENCH_CROSS_SPECIES_INTEGRATION.out.result.mix(CELLBENCH_CROSS_SPECIES_LABEL.out.result)
    versions = CELLBENCH_CROSS_SPECIES_INTEGRATION.out.versions.mix(CELLBENCH_CROSS_SPECIES_LABEL.out.versions)
}
