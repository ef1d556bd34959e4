/*
 * Parameters and samplesheets, without plugins.
 *
 *   validateParameters()    params against nextflow_schema.json (a one-line error naming the parameter)
 *   paramsHelp(), paramsSummaryLog()
 *   readDatasets(), readModels()
 *                           the samplesheets (CSV, TSV, JSON or YAML) read and checked against
 *                           assets/schema_datasets.json / schema_models.json, then the checks that
 *                           need both sheets or the task list (a model naming an unknown dataset, a
 *                           task without the column it needs); a bad row fails before any task starts,
 *                           with the sheet, row and column named
 *   intParam(), boolParam(), parseSeeds(), parseList()
 *                           parameter values as the workflow uses them: from the command line they
 *                           are strings under the strict syntax, numbers/booleans on older parsers
 *
 * The JSON-schema subset understood is the one these schemas use: type (string, integer, number,
 * boolean, or a list of them), pattern, enum, minimum, maximum, format (file-path, directory-path)
 * with exists, required, anyOf of required, errorMessage, uniqueEntries; $defs/allOf groups.
 */

// ---- the schemas

def readJson(path) {
    return new groovy.json.JsonSlurper().parseText(file(path).text)
}

// nextflow_schema.json as [ group title: [ name: property ] ] (group order kept)
def paramGroups() {
    def schema = readJson("${projectDir}/nextflow_schema.json")
    def groups = [:]
    schema['$defs'].each { _key, group -> groups[group.title] = group.properties }
    return groups
}

def paramsSchema() {
    def props = [:]
    paramGroups().each { _title, group -> props.putAll(group) }
    return props
}

def requiredParams() {
    def schema = readJson("${projectDir}/nextflow_schema.json")
    return schema['$defs'].collectMany { _key, group -> group.required ?: [] }
}

// ---- one value against one schema property

// a number from an integer-like value (Integer, Long, '42'), else null; a BigInteger, so that no
// value of any length overflows
def asWholeNumber(value) {
    if (value instanceof Integer || value instanceof Long || value instanceof BigInteger) {
        return value as BigInteger
    }
    def s = value.toString().trim()
    return s ==~ /^[+-]?\d+$/ ? new BigInteger(s) : null
}

def asDecimal(value) {
    if (value instanceof Number) {
        return value as BigDecimal
    }
    def s = value.toString().trim()
    return s ==~ /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/ ? (s as BigDecimal) : null
}

def asBooleanOrNull(value) {
    if (value instanceof Boolean) {
        return value
    }
    def s = value.toString().trim().toLowerCase()
    return s == 'true' ? true : s == 'false' ? false : null
}

// does the value fit this JSON type? Numbers and booleans written as text (a CSV cell, a command-line
// value under the strict syntax) count as numbers and booleans, and a number as a string (`--seeds 42`)
def fitsType(value, String type) {
    if (type == 'string') {
        return !(value instanceof Boolean) && !(value instanceof Map) && !(value instanceof List)
    }
    if (type == 'integer') {
        return asWholeNumber(value) != null
    }
    if (type == 'number') {
        return asDecimal(value) != null
    }
    if (type == 'boolean') {
        return asBooleanOrNull(value) != null
    }
    if (type == 'null') {
        return value == null
    }
    return true
}

def isLocalPath(String value) {
    return !(value ==~ /^[A-Za-z][A-Za-z0-9+.-]*:\/\/.*/) || value.startsWith('file://')
}

// the problem of one value against one property (a short phrase), or null when it fits
def schemaProblem(value, Map spec) {
    def types = spec.type == null ? [] : spec.type instanceof List ? spec.type : [spec.type]
    if (types && !types.any { t -> fitsType(value, t) }) {
        return "must be ${types.join(' or ')}, got '${value}'"
    }
    def text = value.toString()
    if (spec['enum'] != null && !(text in spec['enum'].collect { e -> e.toString() })) {
        return "must be one of ${spec['enum'].join(', ')}, got '${text}'"
    }
    if (spec.pattern != null && !(text =~ spec.pattern)) {
        return spec.errorMessage ? "${spec.errorMessage}, got '${text}'" : "'${text}' does not match ${spec.pattern}"
    }
    def number = asDecimal(value)
    if (spec.minimum != null && number != null && number < (spec.minimum as BigDecimal)) {
        return "must be >= ${spec.minimum}, got ${text}"
    }
    if (spec.maximum != null && number != null && number > (spec.maximum as BigDecimal)) {
        return "must be <= ${spec.maximum}, got ${text}"
    }
    if (spec.format in ['file-path', 'directory-path'] && spec.exists && isLocalPath(text)) {
        def path = file(text)
        if (!path.exists()) {
            return "file not found: ${text}"
        }
        if (spec.format == 'file-path' && path.isDirectory()) {
            return "is a folder, expected a file: ${text}"
        }
        if (spec.format == 'directory-path' && !path.isDirectory()) {
            return "is a file, expected a folder: ${text}"
        }
    }
    return null
}

// ---- parameters

// a parameter's value, or null when no config defines it (the slurm / awsbatch ones outside their profile)
def paramValue(String name) {
    return params.containsKey(name) ? params.get(name) : null
}

// params against nextflow_schema.json: the first bad one is an error, an unknown one a warning
def validateParameters() {
    def props = paramsSchema()
    requiredParams().each { name ->
        if (paramValue(name) == null || paramValue(name) == '') {
            error("--${name} is required (${props[name]?.description ?: 'see --help'})")
        }
    }
    props.each { name, spec ->
        def value = paramValue(name)
        if (value != null) {
            def problem = schemaProblem(value, spec)
            if (problem) {
                error("--${name}: ${problem}")
            }
        }
    }
    def known = props.keySet() + ['genomes']
    params.keySet().each { name ->
        def snake = name.replaceAll(/([a-z0-9])([A-Z])/, '$1_$2').replace('-', '_').toLowerCase()
        if (!(name in known) && !(snake in known)) {
            log.warn("--${name} is not a parameter of this pipeline (nextflow_schema.json): ignored")
        }
    }
}

// --help: every parameter of the schema (hidden ones with --help hidden); --help NAME: that one in full
def paramsHelp(topic) {
    def props = paramsSchema()
    def name = topic instanceof String && topic != 'true' ? topic.replaceFirst(/^--/, '') : null
    if (name && name != 'hidden') {
        def spec = props[name]
        if (spec == null) {
            return "--${name} is not a parameter of this pipeline; see --help"
        }
        def lines = ["--${name}", "    type       : ${spec.type}", "    description: ${spec.description}"]
        if (spec.help_text) {
            lines << "    help       : ${spec.help_text}".toString()
        }
        if (spec['enum']) {
            lines << "    options    : ${spec['enum'].join(', ')}".toString()
        }
        if (spec.pattern) {
            lines << "    pattern    : ${spec.pattern}".toString()
        }
        if (paramValue(name) != null) {
            lines << "    default    : ${paramValue(name)}".toString()
        }
        return lines.join('\n')
    }
    def out = [
        "cellbench ${workflow.manifest.version}: ${workflow.manifest.description}",
        '',
        'Typical command:',
        '  nextflow run . -profile docker --input datasets.csv --models models.csv --outdir results',
        '  nextflow run . -profile test,docker --outdir results',
    ]
    paramGroups().each { title, group ->
        def shown = group.findAll { _n, spec -> name == 'hidden' || !spec.hidden }
        if (shown) {
            out << ''
            out << "${title}:".toString()
            shown.each { n, spec ->
                def value = paramValue(n) != null ? " [default: ${paramValue(n)}]" : ''
                out << "  --${n.padRight(22)} ${spec.description}${value}".toString()
            }
        }
    }
    out << ''
    out << '--help NAME for one parameter in full; --help hidden to list the hidden ones. docs/pipeline.md says more.'
    return out.join('\n')
}

// the parameters that differ from the schema defaults, and the run's context
def paramsSummaryLog() {
    def props = paramsSchema()
    def lines = ["cellbench ${workflow.manifest.version}  (Nextflow ${workflow.nextflow.version}, profile ${workflow.profile})"]
    props.each { name, spec ->
        def value = paramValue(name)
        if (value != null && value != '' && !spec.hidden && value.toString() != spec['default']?.toString()) {
            lines << "  ${name.padRight(22)}: ${value}".toString()
        }
    }
    lines << "  ${'workDir'.padRight(22)}: ${workflow.workDir}".toString()
    return lines.join('\n')
}

// a parameter as an integer / a boolean, whatever the command line parser made of it
def intParam(value, String name) {
    def n = value == null ? null : asWholeNumber(value)
    if (n == null || n < Integer.MIN_VALUE || n > Integer.MAX_VALUE) {
        error("--${name} must be an integer, got '${value}'")
    }
    return n as Integer
}

def boolParam(value, String name) {
    def b = value == null ? false : asBooleanOrNull(value)
    if (b == null) {
        error("--${name} must be true or false, got '${value}'")
    }
    return b
}

// ---- samplesheets

// rows of a CSV / TSV / JSON / YAML samplesheet as maps of column -> trimmed string (empty cells dropped)
def readSheet(sheet) {
    def ext = sheet.name.tokenize('.').last().toLowerCase()
    def rows = []
    if (ext in ['csv', 'tsv']) {
        rows = sheet.splitCsv(header: true, sep: ext == 'tsv' ? '\t' : ',', quote: '"')
    }
    else if (ext == 'json') {
        rows = new groovy.json.JsonSlurper().parseText(sheet.text)
    }
    else if (ext in ['yaml', 'yml']) {
        rows = new groovy.yaml.YamlSlurper().parseText(sheet.text)
    }
    else {
        error("${sheet}: a samplesheet must be .csv, .tsv, .json or .yaml")
    }
    if (!(rows instanceof List) || rows.any { r -> !(r instanceof Map) }) {
        error("${sheet}: expected a list of rows (one object per row)")
    }
    return rows.collect { r ->
        r.collectEntries { k, v ->
            def s = v == null ? '' : v.toString().trim()
            [(k.toString().trim()): s]
        }.findAll { _k, v -> v != '' }
    }
}

// a row's place, as a user finds it: CSV/TSV rows count from the header line (row 2 = first data row)
def rowName(sheet, int index) {
    def ext = sheet.name.tokenize('.').last().toLowerCase()
    return ext in ['csv', 'tsv'] ? "${sheet.name} row ${index + 2}" : "${sheet.name} entry ${index + 1}"
}

// a samplesheet checked against its JSON schema: the rows, or an error naming sheet, row and column
def validateSheet(sheet, String schemaPath) {
    def schema = readJson(schemaPath)
    def items = schema.items
    def rows = readSheet(sheet)
    if (!rows) {
        error("${sheet}: no rows")
    }
    def unknown = rows.collectMany { r -> r.keySet() as List }.unique().findAll { c -> !items.properties.containsKey(c) }
    if (unknown) {
        log.warn("${sheet.name}: column(s) ${unknown.join(', ')} not in ${file(schemaPath).name}: ignored")
    }
    rows.eachWithIndex { r, i ->
        def where = rowName(sheet, i)
        (items.required ?: []).each { col ->
            if (!r.containsKey(col)) {
                error("${where}, column '${col}': required, and empty")
            }
        }
        r.each { col, value ->
            def spec = items.properties[col]
            def problem = spec ? schemaProblem(value, spec) : null
            if (problem) {
                error("${where}, column '${col}': ${problem}")
            }
        }
        if (items.anyOf && !items.anyOf.any { alt -> (alt.required ?: []).every { c -> r.containsKey(c) } }) {
            def cols = items.anyOf.collectMany { alt -> alt.required ?: [] }
            def message = items.errorMessage ?: 'needs one of the columns ' + cols.join(', ')
            error("${where}: ${message}")
        }
    }
    def unique = schema.uniqueEntries ?: []
    if (unique) {
        def seen = [:]
        rows.eachWithIndex { r, i ->
            def key = unique.collect { c -> r[c] }
            if (seen.containsKey(key)) {
                error("${rowName(sheet, i)}: ${unique.join(' + ')} (${key.join(', ')}) repeats ${rowName(sheet, seen[key])}")
            }
            seen[key] = i
        }
    }
    return rows
}

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
        catalog = validateSheet(file(catalogPath, checkIfExists: true), schema).collectEntries { r -> [(r.dataset): r] }
    }
    def sheet = file(input, checkIfExists: true)
    def rows = validateSheet(sheet, schema)
    def needs = requiredColumns()
    return rows.withIndex().collect { r, i ->
        def where = "${rowName(sheet, i)} (dataset '${r.dataset}')"
        def fromCatalog = catalog[r.dataset] ?: [:]
        def fields = fromCatalog + r
        if (!fields.h5ad) {
            error("${where}, column 'h5ad': empty, and '${r.dataset}' is not in the dataset catalog ${catalogPath}")
        }
        if (!fields.tasks) {
            error("${where}, column 'tasks': empty (and not in the catalog)")
        }
        def tasks = fields.tasks.tokenize(';')*.trim().unique()
        tasks.each { t ->
            needs[t].each { col ->
                if (!fields[col]) {
                    error("${where}, column '${col}': task ${t} needs it")
                }
            }
        }
        // a catalog URI is absolute; a path in the user's sheet is relative to that sheet
        def h5ad = r.h5ad ? checkExists(resolvePath(r.h5ad, sheet.parent), "${where}, column 'h5ad'") : resolvePath(fields.h5ad, sheet.parent)
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

// models samplesheet -> list of [ meta (model, dataset, obsm_key, layer, runner, image, image_digest,
// command, weights), embedding or [], prediction or [] ]. A row with a `runner` has its representation
// computed by the pipeline (harmony, scvi, or the model's own container: docs/models.md)
def readModels(input, datasets) {
    def sheet = file(input, checkIfExists: true)
    def rows = validateSheet(sheet, "${projectDir}/assets/schema_models.json".toString())
    def byId = datasets.collectEntries { meta, _h5ad -> [(meta.id): meta] }
    def reserved = baselineNames().values()
    return rows.withIndex().collect { r, i ->
        def where = "${rowName(sheet, i)} (model '${r.model}', dataset '${r.dataset}')"
        if (!byId.containsKey(r.dataset)) {
            error("${where}, column 'dataset': '${r.dataset}' is not in the datasets samplesheet")
        }
        if (r.model in reserved) {
            error("${where}, column 'model': '${r.model}' is reserved for a baseline the pipeline computes")
        }
        checkRunnerRow(r, byId[r.dataset], where)
        def embedding = r.embedding ? checkExists(resolvePath(r.embedding, sheet.parent), "${where}, column 'embedding'") : []
        def prediction = r.prediction ? checkExists(resolvePath(r.prediction, sheet.parent), "${where}, column 'prediction'") : []
        def weights = r.weights ? checkExists(resolvePath(r.weights, sheet.parent), "${where}, column 'weights'") : null
        // an image pinned by digest (name@sha256:...) records that digest in the provenance
        def digest = r.image && r.image.contains('@') ? r.image.substring(r.image.indexOf('@') + 1) : null
        def meta = [model: r.model, dataset: r.dataset, obsm_key: r.obsm_key, layer: r.layer, runner: r.runner,
                    image: r.image, image_digest: digest, command: r.command, weights: weights]
        [meta, embedding, prediction]
    }
}

// The checks of a models row that the schema cannot make: a runner row computes its representation,
// so it names no output; a container needs its image and command; harmony needs the dataset's batches
def checkRunnerRow(Map r, Map dataset, String where) {
    def runnerColumns = ['image', 'command', 'weights']
    if (!r.runner) {
        def given = runnerColumns.findAll { c -> r[c] }
        if (given) {
            error("${where}, column '${given[0]}': only a row with runner 'container' takes ${runnerColumns.join(', ')}")
        }
        return
    }
    def outputs = ['embedding', 'obsm_key', 'layer', 'prediction'].findAll { c -> r[c] }
    if (outputs) {
        error("${where}, column '${outputs[0]}': a row with a runner ('${r.runner}') computes its representation, so it takes no ${outputs.join(', ')}")
    }
    if (r.runner == 'container') {
        ['image', 'command'].each { c ->
            if (!r[c]) {
                error("${where}, column '${c}': runner 'container' needs the model's image and command")
            }
        }
        return
    }
    def extra = runnerColumns.findAll { c -> r[c] }
    if (extra) {
        error("${where}, column '${extra[0]}': only runner 'container' takes ${runnerColumns.join(', ')}; runner '${r.runner}' is built in")
    }
    if (r.runner == 'harmony' && !dataset.batch_key) {
        error("${where}, column 'runner': harmony integrates batches, and dataset '${dataset.id}' has no batch_key in the datasets samplesheet")
    }
}

// '42,43,44' (or 42) -> [42, 43, 44]. A seed is 0..4294967295 (numpy's seed range), compared as a
// BigInteger so that no value wraps around into the range; the seeds are Longs
def parseSeeds(seeds) {
    def list = seeds == null ? [] : seeds.toString().tokenize(',')*.trim().findAll { s -> s }
    if (!list || list.any { s -> !(s ==~ /^\d+$/) || (s as BigInteger) > 4294967295G }) {
        error("--seeds must be a comma-separated list of integers from 0 to 4294967295, got '${seeds}'")
    }
    return list.collect { s -> s as Long }.unique()
}

// 'a, b,c' -> ['a', 'b', 'c']
def parseList(value) {
    return value ? value.toString().tokenize(',')*.trim().findAll { s -> s } : []
}

// ---- what runs

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

// The meta fields each process gets: the ones its command line, tag and output names use. Only these
// reach a task (and its -resume hash), so editing another column of a dataset re-runs nothing else.
def processFields() {
    return [
        baseline                 : ['id', 'seed', 'counts_layer'],
        extract                  : ['id', 'model', 'obsm_key', 'layer', 'obs_keys'],
        clustering               : ['id', 'model', 'seed', 'label_key'],
        embedding                : ['id', 'model', 'seed', 'label_key'],
        integration              : ['id', 'model', 'seed', 'label_key', 'batch_key'],
        sequential               : ['id', 'model', 'seed', 'time_key', 'time_order'],
        label_split              : ['id', 'seed', 'label_key'],
        label_fold               : ['id', 'model', 'seed', 'fold', 'classifier'],
        label_merge              : ['id', 'model', 'seed'],
        cross_species_integration: ['id', 'model', 'seed', 'species', 'label_keys', 'sample_keys'],
        cross_species_label      : ['id', 'model', 'seed', 'species', 'label_keys', 'sample_keys',
                                    'train_species', 'test_species'],
        perturbation_prepare     : ['id', 'seed', 'counts_layer', 'condition_key', 'control_name', 'match_key', 'obs_query'],
        perturbation             : ['id', 'model', 'seed', 'layer', 'baseline'],
        model_harmony            : ['id', 'model', 'seed', 'batch_key', 'counts_layer'],
        model_scvi               : ['id', 'model', 'seed', 'batch_key', 'counts_layer'],
        model_container          : ['id', 'model', 'seed', 'image', 'command'],
        model_check              : ['id', 'model', 'seed', 'image', 'image_digest', 'command'],
    ]
}

// The obs columns each task reads from its dataset, as the meta fields that name them: what the
// extract of a representation keeps (CELLBENCH_EXTRACT), so its tasks need nothing else of the dataset
def taskObsColumns() {
    return [
        clustering               : ['label_key'],
        embedding                : ['label_key'],
        integration              : ['label_key', 'batch_key'],
        sequential               : ['time_key'],
        label_prediction         : ['label_key'],
        cross_species_integration: ['label_key', 'sample_key'],
        cross_species_label      : ['label_key', 'sample_key'],
    ]
}

// the obs columns the tasks of a representation (meta.tasks) read, in a fixed order (part of the
// extract's -resume hash: reordering the tasks column must not re-run it)
def extractObsKeys(meta) {
    def columns = taskObsColumns()
    def needed = meta.tasks.collectMany { t -> columns[t] ?: [] }
    return columns.values().flatten().unique().findAll { f -> f in needed && meta[f] }.collect { f -> meta[f] }.unique()
}

// meta cut down to the fields of one process (processFields())
def slim(meta, String process) {
    return meta.subMap(processFields()[process])
}

// A representation of a dataset: a model's output (embedding file, obsm key or layer of the dataset),
// or one the pipeline computes from the dataset (a row with a runner: harmony, scvi, container)
def isRepresentation(m, embedding, prediction) {
    return m.runner || embedding || m.obsm_key || (m.layer && !prediction)
}

// [ species_group, model, task ] -> how many species (datasets) a cross-species group of that model
// gathers: the datasets of the group that run the task and have that model's representation (every
// one for the PCA baseline). groupTuple waits for exactly that many, not for the end of the run.
def speciesGroupSizes(datasets, models, List baselines) {
    def sizes = [:]
    def names = baselineNames()
    ['cross_species_integration', 'cross_species_label'].each { task ->
        def members = datasets.findAll { meta, _h5ad -> task in meta.tasks }.collect { meta, _h5ad -> meta }
        if (names.pca in baselines) {
            members.each { meta ->
                def key = [meta.species_group, names.pca, task]
                sizes[key] = (sizes[key] ?: 0) + 1
            }
        }
        models.each { m, embedding, prediction ->
            def meta = members.find { d -> d.id == m.dataset }
            if (meta && isRepresentation(m, embedding, prediction)) {
                def key = [meta.species_group, m.model, task]
                sizes[key] = (sizes[key] ?: 0) + 1
            }
        }
    }
    return sizes
}

// ---- the end of a run

// tasks skipped for bad input data (errorStrategy 'ignore', conf/base.config) are listed above as
// "Error is ignored"; say so once more at the end, with where the details are
def completionSummary() {
    def ignored = workflow.stats.ignoredCount
    if (ignored) {
        log.warn("${ignored} task(s) failed on their input data and were skipped (\"Error is ignored\" above); " +
            "the other results are complete. Details: the tasks' .command.err, and ${params.outdir}/pipeline_info/execution_trace_*.txt")
    }
    if (workflow.success) {
        log.info("cellbench: done, results in ${params.outdir}")
    }
}
