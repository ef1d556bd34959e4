"""Guard rails of the code's shape: import layers, import cycles, long or complex code, module metadata.

Why these exist: they keep the structure CONTRIBUTING.md describes true after the next change, and each
failure says which step of a change was forgotten.

- `test_import_layers`: `lint-imports` (import-linter) checks the contracts of `[tool.importlinter]` in
  pyproject.toml, the one source of truth for which package may import which. Lazy imports inside
  functions count the same as top-level ones.
- `test_no_import_cycles`: no cycle among cellbench modules (grimp's graph, lazy imports included). The
  `acyclic_siblings` contract sees cycles between sibling packages; this test also sees a package's
  `__init__` and its own submodules importing each other.
- `test_long_modules_say_why`, `test_long_or_complex_functions_say_why`: a module over 400 lines has a
  docstring line starting "Why this is long:"; a function over 60 lines or with McCabe complexity over
  15 (ruff's C901) has a `# shape: <reason>` comment on its def line or the line above.
- `test_module_meta_yml`: every pipeline module (modules/local/**/main.nf) has an nf-core style meta.yml
  whose input and output channels are the ones main.nf declares, in order, with matching types.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "cellbench"
MODULES = ROOT / "modules" / "local"
BIN = Path(sys.executable).parent

MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
MAX_COMPLEXITY = 15
SHAPE_COMMENT = re.compile(r"#\s*shape:\s*\S")


def _tool(name: str) -> str:
    """A console script of this environment (the test extra installs them), else one on the PATH."""
    path = BIN / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed: pip install -e '.[test]'")
    return found


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


# --------------------------------------------------------------------------------------------------
# imports


def test_import_layers():
    proc = subprocess.run([_tool("lint-imports"), "--no-cache"], cwd=ROOT, capture_output=True, text=True,
                          check=False, env=dict(os.environ, PYTHONPATH=str(ROOT / "src")))
    report = proc.stdout[proc.stdout.find("Contracts\n"):]  # without the ASCII-art banner
    assert proc.returncode == 0, (
        "the import contract of pyproject.toml [tool.importlinter] is broken (CONTRIBUTING.md, Layers):\n"
        + report + proc.stderr)


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycles():
    grimp = pytest.importorskip("grimp", reason="grimp comes with import-linter: pip install -e '.[test]'")
    graph = grimp.build_graph("cellbench", cache_dir=None)
    edges = {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    lines = []
    for component in _cycles(edges):
        lines.append(" <-> ".join(component))
        for a in component:
            for b in sorted(edges[a] & set(component)):
                for d in graph.get_import_details(importer=a, imported=b):
                    lines.append(f"    {a} -> {b} (l.{d['line_number']}: {d['line_contents']})")
    assert not lines, "import cycles among cellbench modules:\n" + "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# code shape


def _sources() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def test_long_modules_say_why():
    offenders = []
    for path in _sources():
        text = path.read_text()
        n = len(text.splitlines())
        if n <= MAX_MODULE_LINES:
            continue
        doc = ast.get_docstring(ast.parse(text)) or ""
        if not any(line.strip().startswith("Why this is long:") for line in doc.splitlines()):
            offenders.append(f"{_rel(path)}: {n} lines")
    assert not offenders, (
        f"modules over {MAX_MODULE_LINES} lines without a 'Why this is long:' line in their docstring "
        "(split them, or say why not):\n" + "\n".join(offenders))


def _functions(tree: ast.Module):
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node


def _complex_functions() -> dict[tuple[str, int], str]:
    """(file, def line) -> ruff's message, for every function over the McCabe limit."""
    proc = subprocess.run(
        [_tool("ruff"), "check", "--no-cache", "--ignore-noqa", "--exit-zero", "--select", "C901",
         "--config", f"lint.mccabe.max-complexity={MAX_COMPLEXITY}", "--output-format", "json", str(SRC)],
        cwd=ROOT, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    return {(str(Path(d["filename"]).resolve()), d["location"]["row"]): d["message"]
            for d in json.loads(proc.stdout)}


def _says_why(lines: list[str], node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """A `# shape:` comment on the def line, or on the line above it or above its decorators."""
    first = min([node.lineno] + [d.lineno for d in node.decorator_list])
    candidates = range(max(first - 1, 1), node.lineno + 1)
    return any(SHAPE_COMMENT.search(lines[i - 1]) for i in candidates)


def test_long_or_complex_functions_say_why():
    complex_ = _complex_functions()
    offenders = []
    for path in _sources():
        text = path.read_text()
        lines = text.splitlines()
        for node in _functions(ast.parse(text)):
            reasons = []
            length = node.end_lineno - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                reasons.append(f"{length} lines")
            message = complex_.get((str(path.resolve()), node.lineno))
            if message:
                reasons.append(message)
            if reasons and not _says_why(lines, node):
                offenders.append(f"{_rel(path)}:{node.lineno} {node.name}: {'; '.join(reasons)}")
    assert not offenders, (
        f"functions over {MAX_FUNCTION_LINES} lines or McCabe complexity {MAX_COMPLEXITY} without a "
        "'# shape: <reason>' comment (split them, or say why not):\n" + "\n".join(offenders))


# --------------------------------------------------------------------------------------------------
# pipeline modules: meta.yml against main.nf

# one element of a channel: val(meta) / path(x, stageAs: ...) / path "glob" / val('text') / eval('cmd')
ELEMENT = re.compile(r"""\b(val|path|eval|env)\s*\(?\s*(?:"([^"]*)"|'([^']*)'|(\w+))""")


def _section(body: str, name: str) -> list[str]:
    """The declaration lines of a process's `input:` or `output:` block, comments dropped."""
    m = re.search(rf"(?m)^\s*{name}:\s*$", body)
    if not m:
        return []
    rest = body[m.end():]
    end = re.search(r"(?m)^\s*(input|output|when|script|shell|exec|stub|topic):\s*$", rest)
    block = rest[:end.start()] if end else rest
    lines = [_code(ln).strip() for ln in block.splitlines()]
    return [ln for ln in lines if ln]


def _code(line: str) -> str:
    """A line without its `//` comment (a `//` inside quotes is text)."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif line.startswith("//", i):
            return line[:i]
    return line


def _elements(line: str) -> list[tuple[str, str]]:
    """(kind, name) of each element of one channel declaration."""
    out = []
    for m in ELEMENT.finditer(line):
        name = next(g for g in m.groups()[1:] if g is not None)
        out.append((m.group(1), name))
    return out


def _declared(main_nf: Path) -> tuple[list[list[tuple[str, str]]], dict[str, list[tuple[str, str]]]]:
    """main.nf's input channels (each a list of elements) and output channels by emit name."""
    text = main_nf.read_text()
    body = text[re.search(r"(?m)^process\s+\w+\s*\{", text).end():]
    inputs = [_elements(ln) for ln in _section(body, "input")]
    outputs = {}
    for ln in _section(body, "output"):
        emit = re.search(r"emit:\s*(\w+)", ln)
        assert emit, f"{_rel(main_nf)}: output without emit: {ln}"
        outputs[emit.group(1)] = _elements(ln[:emit.start()])
    return inputs, outputs


def _documented(channel) -> list[tuple[str, dict]]:
    """A meta.yml channel (a map for one element, a list of maps for a tuple) as (name, fields) pairs."""
    if isinstance(channel, dict):
        channel = [channel]
    if len(channel) == 1 and isinstance(channel[0], list):
        channel = channel[0]
    pairs = []
    for element in channel:
        assert isinstance(element, dict) and len(element) == 1, f"not one element: {element!r}"
        (name, fields), = element.items()
        pairs.append((str(name), fields or {}))
    return pairs


def _type_problems(kind: str, name: str, fields: dict, where: str, output: bool) -> list[str]:
    want = {"path": ("file", "directory"), "eval": ("eval",), "env": ("string",)}.get(kind)
    if kind == "val":
        want = ("map",) if re.fullmatch(r"meta\d*", name) else ("string", "integer", "float", "boolean", "list")
    problems = []
    if fields.get("type") not in want:
        problems.append(f"{where} {name!r}: type {fields.get('type')!r}, want one of {list(want)}")
    if not fields.get("description"):
        problems.append(f"{where} {name!r}: no description")
    if fields.get("type") == "file":
        if not fields.get("pattern"):
            problems.append(f"{where} {name!r}: a file needs a pattern")
        elif output and fields["pattern"] != name:
            problems.append(f"{where} {name!r}: pattern {fields['pattern']!r} is not the declared glob")
    return problems


def _channel_problems(declared, documented, where: str, output: bool) -> list[str]:
    names = [name for _, name in declared]
    doc = _documented(documented)
    if [n for n, _ in doc] != names:
        return [f"{where}: meta.yml names {[n for n, _ in doc]}, main.nf declares {names}"]
    problems = []
    for (kind, name), (_, fields) in zip(declared, doc):
        problems += _type_problems(kind, name, fields, where, output)
    return problems


def _meta_problems(main_nf: Path) -> list[str]:
    meta_path = main_nf.with_name("meta.yml")
    if not meta_path.exists():
        return [f"{_rel(meta_path)} is missing"]
    yaml = pytest.importorskip("yaml")
    meta = yaml.safe_load(meta_path.read_text())
    process = re.search(r"(?m)^process\s+(\w+)", main_nf.read_text()).group(1)
    where = _rel(meta_path)
    problems = [f"{where}: no {k}" for k in ("name", "description", "keywords", "tools", "input", "output",
                                              "authors", "maintainers") if not meta.get(k)]
    if problems:
        return problems
    if meta["name"] != process.lower():
        problems.append(f"{where}: name {meta['name']!r}, want {process.lower()!r}")
    if len(meta["keywords"]) < 3:
        problems.append(f"{where}: fewer than 3 keywords")
    tools = {name: fields for tool in meta["tools"] for name, fields in tool.items()}
    if not {"description", "homepage", "licence"} <= set(tools.get("cellbench") or {}):
        problems.append(f"{where}: tools needs cellbench with description, homepage and licence")
    inputs, outputs = _declared(main_nf)
    if len(meta["input"]) != len(inputs):
        problems.append(f"{where}: {len(meta['input'])} input channels, main.nf declares {len(inputs)}")
    for i, (declared, documented) in enumerate(zip(inputs, meta["input"])):
        problems += _channel_problems(declared, documented, f"{where} input {i + 1}", output=False)
    if list(meta["output"]) != list(outputs):
        problems.append(f"{where}: outputs {list(meta['output'])}, main.nf emits {list(outputs)}")
    for emit in set(outputs) & set(meta["output"]):
        problems += _channel_problems(outputs[emit], meta["output"][emit], f"{where} output {emit}", output=True)
    return problems


MAIN_NFS = sorted(MODULES.rglob("main.nf"))


@pytest.mark.parametrize("main_nf", MAIN_NFS, ids=[p.parent.name for p in MAIN_NFS])
def test_module_meta_yml(main_nf):
    problems = _meta_problems(main_nf)
    assert not problems, "\n".join(problems)


def test_meta_yml_parser_reads_every_declaration():
    """The regexes above see every channel of a module (guards the meta.yml test against misreading)."""
    inputs, outputs = _declared(MODULES / "cellbench" / "extract" / "main.nf")
    assert inputs == [[("val", "meta"), ("path", "h5ad"), ("path", "embedding")]]
    assert outputs["h5ad"] == [("val", "meta"), ("path", "*.extract.h5ad")]
    assert outputs["versions"] == [("val", "${task.process}"), ("val", "cellbench"),
                                   ("eval", 'cellbench --version | sed "s/.* //"')]
    inputs, outputs = _declared(MODULES / "cellbench" / "aggregate" / "main.nf")
    assert inputs == [[("path", "results")]]
    assert list(outputs) == ["tsv", "parquet", "versions"] and outputs["tsv"] == [("path", "*.tsv")]
