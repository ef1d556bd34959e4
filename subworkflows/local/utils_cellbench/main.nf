/*
 * Reading the samplesheets: datasets (merged with the dataset catalog) and model outputs.
 *
 * Both are validated against their JSON schemas (assets/schema_*.json) by nf-schema; the checks that
 * need both sheets or the task list (a model naming an unknown dataset, a task without the obs column
 * it needs) are done here, so a bad row fails before any task starts, with the row named.
 */

include { samplesheetToList } from 'plugin/nf-schema'

// The columns each task needs on its dataset's row (after the catalog fills empty ones)
def requiredColumns() {
    return [
        clustering               : ['label_key'],
        embedding                : ['label_key'],
        integration              : ['label_key', 'batch_key'],
        sequential               : ['time_key'],
        label_prediction         : ['label_key'],
        cross_species_integration: ['label_key', 'species_group', 'organism'],
        cross_species_label      : ['label_key', 'species_group', 'organism'],
        perturbation             : ['condition_key', 'control_name'],
    ]
}

// One samplesheet row as a map of column -> trimmed string, empty cells as null
def cleanRow(row) {
    def fields = row instanceof List ? row[0] : row
    return fields.collectEntries { k, v ->
        def s = (v == null || v == []) ? '' : v.toString().trim()
        [(k.toString()): s ? s : null]
    }
}

// A path or URI from a samplesheet cell: URIs and absolute paths as they are, relative paths
// against the samplesheet's folder (so a samplesheet and its data move together)
def resolvePath(String value, base) {
    if (value ==~ /^[A-Za-z][A-Za-z0-9+.-]*:\/\/.*/ || value.startsWith('/')) {
        return file(value)
    }
    return base.resolve(value).normalize()
}

def checkExists(path, String where) {
    def scheme = path.toUri().getScheme()
    if ((scheme == null || scheme == 'file') && !path.exists()) {
        error("${where}: file not found: ${path}")
    }
    return path
}

// datasets samplesheet -> list of [ meta, h5ad ]; meta has id, organism, tasks (list) and the keys
def readDatasets(input, catalogPath) {
    def schema = "${projectDir}/assets/schema_datasets.json".toString()
    def catalog = [:]
    if (catalogPath) {
        catalog = samplesheetToList(catalogPath, schema)
            .collect { row -> cleanRow(row) }
            .collectEntries { r -> [(r.dataset): r] }
    }
    def sheet = file(input, checkIfExists: true)
    def rows = samplesheetToList(sheet, schema).collect { row -> cleanRow(row) }
    if (!rows) {
        error("${input}: no datasets")
    }
    def needs = requiredColumns()
    return rows.withIndex().collect { r, i ->
        def where = "${input} row ${i + 2} (dataset '${r.dataset}')"
        def fromCatalog = catalog[r.dataset] ?: [:]
        def fields = fromCatalog + r.findAll { _k, v -> v != null }
        if (!fields.h5ad) {
            error("${where}: no h5ad, and '${r.dataset}' is not in the dataset catalog ${catalogPath}")
        }
        if (!fields.tasks) {
            error("${where}: no tasks (and none in the catalog)")
        }
        def tasks = fields.tasks.tokenize(';')*.trim().unique()
        tasks.each { t ->
            needs[t].each { col ->
                if (!fields[col]) {
                    error("${where}: task ${t} needs the column ${col}")
                }
            }
        }
        // a catalog URI is absolute; a path in the user's sheet is relative to that sheet
        def h5ad = r.h5ad ? checkExists(resolvePath(r.h5ad, sheet.parent), where) : resolvePath(fields.h5ad, sheet.parent)
        def meta = [
            id           : fields.dataset,
            organism     : fields.organism,
            tasks        : tasks,
            label_key    : fields.label_key,
            batch_key    : fields.batch_key,
            time_key     : fields.time_key,
            sample_key   : fields.sample_key,
            counts_layer : fields.counts_layer,
            species_group: fields.species_group,
            condition_key: fields.condition_key,
            control_name : fields.control_name,
            // optional: `cellbench sequential --time-order` (comma-separated), perturbation-prepare options
            time_order   : fields.time_order ? fields.time_order.tokenize(',;')*.trim().findAll { s -> s }.join(',') : null,
            match_key    : fields.match_key,
            obs_query    : fields.obs_query,
        ]
        [meta, h5ad]
    }
}

// models samplesheet -> list of [ meta (model, dataset, obsm_key, layer), embedding or [], prediction or [] ]
def readModels(input, datasets) {
    def sheet = file(input, checkIfExists: true)
    def rows = samplesheetToList(sheet, "${projectDir}/assets/schema_models.json".toString()).collect { row -> cleanRow(row) }
    def byId = datasets.collectEntries { meta, _h5ad -> [(meta.id): meta] }
    def reserved = baselineNames().values()
    return rows.withIndex().collect { r, i ->
        def where = "${input} row ${i + 2} (model '${r.model}', dataset '${r.dataset}')"
        if (!byId.containsKey(r.dataset)) {
            error("${where}: dataset '${r.dataset}' is not in the datasets samplesheet")
        }
        if (r.model in reserved) {
            error("${where}: model name '${r.model}' is reserved for a baseline the pipeline computes")
        }
        def embedding = r.embedding ? checkExists(resolvePath(r.embedding, sheet.parent), where) : []
        def prediction = r.prediction ? checkExists(resolvePath(r.prediction, sheet.parent), where) : []
        def meta = [model: r.model, dataset: r.dataset, obsm_key: r.obsm_key, layer: r.layer]
        [meta, embedding, prediction]
    }
}

// '42,43,44' -> [42, 43, 44]
def parseSeeds(seeds) {
    def list = seeds.toString().tokenize(',')*.trim().findAll { s -> s }
    if (!list || list.any { s -> !(s ==~ /^-?\d+$/) }) {
        error("--seeds must be a comma-separated list of integers, got '${seeds}'")
    }
    return list.collect { s -> s as Integer }.unique()
}

// Baseline kind -> its model name in results (the names `cellbench aggregate/report` mark as baselines)
def baselineNames() {
    return [pca: 'pca', raw: 'raw_expression', no_change: 'no_change', other_mean: 'other_mean']
}

// Baseline kind -> the tasks it is scored on (TASKS.md: PCA for the embedding tasks, raw expression
// for label prediction; cellbench adds the PCA floor to the cross-species tasks). The perturbation
// baselines (no_change, other_mean) are scored on every perturbation dataset.
def baselineTasks() {
    return [
        pca: ['clustering', 'embedding', 'integration', 'sequential', 'cross_species_integration', 'cross_species_label'],
        raw: ['label_prediction'],
    ]
}

// The tasks that score an embedding (every task but perturbation, which scores predicted expression)
def embeddingTasks() {
    return ['clustering', 'embedding', 'integration', 'sequential', 'label_prediction',
            'cross_species_integration', 'cross_species_label']
}

// 'a, b,c' -> ['a', 'b', 'c']
def parseList(value) {
    return value ? value.toString().tokenize(',')*.trim().findAll { s -> s } : []
}
