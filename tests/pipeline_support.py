"""Read the Nextflow pipeline's own files from Python, for the pipeline tests (no Nextflow here).

- `parse_process(path)`: a module's process: name, input declarations, output paths, the `script:`
  block (its `def` statements and its command template).
- `Groovy`: a small evaluator for the Groovy expressions those blocks use (GStrings, property access,
  ternary and elvis, `[x].flatten()`, `.collect { v -> ... }`, `.join(s)`, map and list literals), so a
  module's command line can be rendered with the values the workflow passes, exactly as written.
- `read_params(...)`, `read_ext_args(...)`: params from nextflow.config / conf/test.config and the
  ext.args closures of conf/modules.config.
- `qualified_names()`: every process's fully qualified name (CELLBENCH:LABEL_PREDICTION:...), which
  the withName selectors of the configs match.

It understands the subset of Groovy this repository's .nf files use; anything else raises, so a module
written outside that subset fails the tests instead of being silently misread.
"""

from __future__ import annotations

import fnmatch
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODULES = ROOT / "modules" / "local" / "cellbench"


# --------------------------------------------------------------------------------------------------
# values


class StagedList(list):
    """A multi-file process input: interpolates as space-separated names, as Nextflow does."""

    def __str__(self):
        return " ".join(str(v) for v in self)


class GroovyError(Exception):
    pass


def truthy(v) -> bool:
    return bool(v)


def to_gstring(v) -> str:
    """Groovy's toString of an interpolated value (null prints 'null', a list '[a, b]')."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, StagedList):
        return str(v)
    if isinstance(v, list):
        return "[" + ", ".join(to_gstring(x) for x in v) + "]"
    if isinstance(v, dict):
        return "[" + ", ".join(f"{k}:{to_gstring(x)}" for k, x in v.items()) + "]"
    return str(v)


@dataclass
class Closure:
    params: list[str]
    body: object  # AST
    env: dict

    def call(self, ev: Groovy, *args):
        local = dict(self.env)
        names = self.params or ["it"]
        if len(args) == 1 and len(names) > 1 and isinstance(args[0], list):
            args = tuple(args[0])
        for name, value in zip(names, args):
            local[name] = value
        return ev.eval(self.body, local)


class Obj:
    """An object with properties (task, task.ext, workflow): missing properties are null."""

    def __init__(self, **props):
        self.__dict__.update(props)

    def get(self, name):
        return self.__dict__.get(name)


# --------------------------------------------------------------------------------------------------
# tokenizer

TOKEN = re.compile(
    r"""
    (?P<ws>\s+|//[^\n]*)
  | (?P<tdq>\"\"\"(?:\\.|[^\\])*?\"\"\")
  | (?P<dq>"(?:\\.|[^"\\])*")
  | (?P<sq>'(?:\\.|[^'\\])*')
  | (?P<slashy>(?<=[=~(,]\s)/(?:\\.|[^/\\\n])+/)
  | (?P<num>\d+(?:\.\d+)?)
  | (?P<op>\?:|\.\.<|\.\.|==|!=|&&|\|\||->|<=>|[?:.,()\[\]{}!+=<>*-])
  | (?P<id>[A-Za-z_][A-Za-z0-9_]*)
    """,
    re.VERBOSE | re.DOTALL,
)


def tokenize(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(text):
        m = TOKEN.match(text, pos)
        if not m:
            raise GroovyError(f"cannot tokenize at: {text[pos:pos + 40]!r}")
        pos = m.end()
        kind = m.lastgroup
        if kind == "ws":
            continue
        out.append((kind, m.group()))
    out.append(("eof", ""))
    return out


# --------------------------------------------------------------------------------------------------
# parser: expression AST as tuples


class Parser:
    def __init__(self, text: str):
        self.toks = tokenize(text)
        self.i = 0

    def peek(self, k=0):
        return self.toks[self.i + k]

    def take(self, value=None):
        tok = self.toks[self.i]
        if value is not None and tok[1] != value:
            raise GroovyError(f"expected {value!r}, got {tok[1]!r}")
        self.i += 1
        return tok

    def at(self, value):
        return self.toks[self.i][1] == value and self.toks[self.i][0] in ("op", "id")

    # statements: `def NAME = EXPR` (the script block's preamble)
    def statements(self):
        out = []
        while self.peek()[0] != "eof":
            if self.at("def"):
                self.take()
                name = self.take()[1]
                self.take("=")
                out.append((name, self.expr()))
            else:
                raise GroovyError(f"unsupported statement at {self.peek()[1]!r}")
        return out

    def expr(self):
        cond = self.or_()
        if self.at("?:"):
            self.take()
            return ("elvis", cond, self.expr())
        if self.at("?"):
            self.take()
            a = self.expr()
            self.take(":")
            b = self.expr()
            return ("tern", cond, a, b)
        return cond

    def or_(self):
        left = self.and_()
        while self.at("||"):
            self.take()
            left = ("or", left, self.and_())
        return left

    def and_(self):
        left = self.eq()
        while self.at("&&"):
            self.take()
            left = ("and", left, self.eq())
        return left

    def eq(self):
        left = self.add()
        while True:
            if self.at("==") or self.at("!="):
                op = self.take()[1]
                left = (op, left, self.add())
            elif self.at("instanceof"):
                self.take()
                left = ("instanceof", left, self.take()[1])
            elif self.at("in"):
                self.take()
                left = ("in", left, self.add())
            else:
                return left

    def add(self):
        left = self.unary()
        while self.at("+"):
            self.take()
            left = ("+", left, self.unary())
        return left

    def unary(self):
        if self.at("!"):
            self.take()
            return ("not", self.unary())
        return self.postfix()

    def postfix(self):
        node = self.primary()
        while True:
            if self.at("."):
                self.take()
                name = self.take()[1]
                if self.at("("):
                    args = self.call_args()
                    if self.at("{"):
                        args.append(self.closure())
                    node = ("call", node, name, args)
                elif self.at("{"):
                    node = ("call", node, name, [self.closure()])
                else:
                    node = ("prop", node, name)
            elif self.at("["):
                self.take()
                idx = self.expr()
                self.take("]")
                node = ("index", node, idx)
            else:
                return node

    def call_args(self):
        self.take("(")
        args = []
        while not self.at(")"):
            args.append(self.expr())
            if self.at(","):
                self.take()
        self.take(")")
        return args

    def closure(self):
        self.take("{")
        params = []
        j = self.i
        names = []
        while self.toks[j][0] == "id" or self.toks[j][1] == ",":
            if self.toks[j][0] == "id":
                names.append(self.toks[j][1])
            j += 1
        if self.toks[j][1] == "->":
            params = names
            self.i = j + 1
        body = self.expr()
        self.take("}")
        return ("closure", params, body)

    def primary(self):
        kind, val = self.peek()
        if kind in ("dq", "tdq"):
            self.take()
            quote = 3 if kind == "tdq" else 1
            return gstring_ast(val[quote:-quote])
        if kind == "sq":
            self.take()
            return ("lit", unescape(val[1:-1]))
        if kind == "slashy":
            self.take()
            return ("lit", val[1:-1])
        if kind == "num":
            self.take()
            return ("lit", float(val) if "." in val else int(val))
        if kind == "id":
            self.take()
            if val in ("true", "false"):
                return ("lit", val == "true")
            if val == "null":
                return ("lit", None)
            if self.at("("):
                return ("fcall", val, self.call_args())
            return ("var", val)
        if self.at("("):
            self.take()
            e = self.expr()
            self.take(")")
            return e
        if self.at("["):
            return self.list_or_map()
        if self.at("{"):
            return self.closure()
        raise GroovyError(f"unexpected token {val!r}")

    def list_or_map(self):
        self.take("[")
        if self.at(":"):
            self.take()
            self.take("]")
            return ("map", [])
        items, pairs = [], []
        while not self.at("]"):
            if self.peek()[0] in ("id", "sq", "dq") and self.peek(1)[1] == ":":
                key = self.take()
                k = key[1] if key[0] == "id" else unescape(key[1][1:-1])
                self.take(":")
                pairs.append((k, self.expr()))
            else:
                items.append(self.expr())
            if self.at(","):
                self.take()
        self.take("]")
        return ("map", pairs) if pairs else ("list", items)


def unescape(s: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), s, flags=re.DOTALL)


def gstring_ast(body: str):
    """A GString: literal parts and ${expr} parts; escapes as Groovy reads them."""
    parts, pos = [], 0
    buf = ""
    while pos < len(body):
        ch = body[pos]
        if ch == "\\" and pos + 1 < len(body):
            nxt = body[pos + 1]
            buf += {"n": "\n", "t": "\t"}.get(nxt, nxt)
            pos += 2
        elif body.startswith("${", pos):
            depth, j = 1, pos + 2
            while depth:
                depth += {"{": 1, "}": -1}.get(body[j], 0)
                j += 1
            if buf:
                parts.append(("lit", buf))
                buf = ""
            parts.append(Parser(body[pos + 2:j - 1]).expr())
            pos = j
        elif ch == "$" and pos + 1 < len(body) and (body[pos + 1].isalpha() or body[pos + 1] == "_"):
            raise GroovyError(f"bare $name interpolation is not supported here: {body[pos:pos + 20]!r}")
        else:
            buf += ch
            pos += 1
    if buf:
        parts.append(("lit", buf))
    return ("gstring", parts)


# --------------------------------------------------------------------------------------------------
# evaluator


class Groovy:
    def eval(self, node, env: dict):
        op = node[0]
        if op == "lit":
            return node[1]
        if op == "gstring":
            return "".join(to_gstring(self.eval(p, env)) for p in node[1])
        if op == "var":
            if node[1] not in env:
                raise GroovyError(f"unknown variable {node[1]}")
            return env[node[1]]
        if op == "prop":
            target = self.eval(node[1], env)
            if target is None:
                raise GroovyError(f"null.{node[2]} (NullPointerException in Groovy)")
            if isinstance(target, dict):
                return target.get(node[2])
            if isinstance(target, Obj):
                return target.get(node[2])
            if node[2] == "name" and isinstance(target, (str, Path)):
                return Path(str(target)).name
            raise GroovyError(f"property {node[2]} of {type(target).__name__}")
        if op == "index":
            return self.eval(node[1], env)[self.eval(node[2], env)]
        if op == "list":
            return [self.eval(x, env) for x in node[1]]
        if op == "map":
            return {k: self.eval(v, env) for k, v in node[1]}
        if op == "closure":
            return Closure(node[1], node[2], env)
        if op == "elvis":
            v = self.eval(node[1], env)
            return v if truthy(v) else self.eval(node[2], env)
        if op == "tern":
            return self.eval(node[2], env) if truthy(self.eval(node[1], env)) else self.eval(node[3], env)
        if op == "or":
            return truthy(self.eval(node[1], env)) or truthy(self.eval(node[2], env))
        if op == "and":
            return truthy(self.eval(node[1], env)) and truthy(self.eval(node[2], env))
        if op == "not":
            return not truthy(self.eval(node[1], env))
        if op == "==":
            return self.eval(node[1], env) == self.eval(node[2], env)
        if op == "!=":
            return self.eval(node[1], env) != self.eval(node[2], env)
        if op == "in":
            return self.eval(node[1], env) in self.eval(node[2], env)
        if op == "instanceof":
            v = self.eval(node[1], env)
            kinds = {"List": list, "Map": dict, "String": str}
            return isinstance(v, kinds[node[2]])
        if op == "+":
            a, b = self.eval(node[1], env), self.eval(node[2], env)
            if isinstance(a, str) or isinstance(b, str):
                return to_gstring(a) + to_gstring(b)
            if isinstance(a, dict):
                return {**a, **b}
            return a + b
        if op == "call":
            return self.method(self.eval(node[1], env), node[2], [self.eval(a, env) for a in node[3]])
        if op == "fcall":
            raise GroovyError(f"function call {node[1]}() is not supported in script blocks")
        raise GroovyError(f"cannot evaluate {op}")

    def method(self, target, name, args):
        if name == "collect" and isinstance(target, list):
            return [args[0].call(self, v) for v in target]
        if name == "join" and isinstance(target, list):
            return (args[0] if args else "").join(to_gstring(v) for v in target)
        if name == "flatten" and isinstance(target, list):
            out = []

            def walk(v):
                if isinstance(v, list):
                    for x in v:
                        walk(x)
                else:
                    out.append(v)

            walk(target)
            return out
        if name == "findAll" and isinstance(target, list):
            return [v for v in target if truthy(args[0].call(self, v))]
        if name == "size" and isinstance(target, (list, dict, str)):
            return len(target)
        if name == "tokenize" and isinstance(target, str):
            return [t for t in re.split("[" + re.escape(args[0]) + "]", target) if t]
        if name == "trim" and isinstance(target, str):
            return target.strip()
        raise GroovyError(f"method {name}() on {type(target).__name__} is not supported")


GROOVY = Groovy()


# --------------------------------------------------------------------------------------------------
# modules


@dataclass
class InputDecl:
    kind: str  # val | path
    name: str
    stage_as: str | None = None


@dataclass
class OutputDecl:
    pattern: str  # a GString template
    emit: str | None
    optional: bool = False


@dataclass
class Process:
    name: str
    path: Path
    text: str
    inputs: list[list[InputDecl]]  # one list per input channel (a tuple or a single path/val)
    outputs: list[OutputDecl]
    script_defs: list[tuple[str, object]]
    script_template: str  # the raw text between the script's triple quotes
    stub_template: str
    directives: dict[str, list[str]] = field(default_factory=dict)

    @property
    def module_dir(self) -> str:
        return self.path.parent.name

    def render(self, env: dict, block: str = "script") -> str:
        """The shell text of the script (or stub) with these values, as Nextflow would run it."""
        local = dict(env)
        if block == "script":
            defs, template = self.script_defs, self.script_template
        else:
            defs, template = stub_parts(self.text)
        for name, node in defs:
            local[name] = GROOVY.eval(node, local)
        return GROOVY.eval(gstring_ast(template), local)

    def output_patterns(self, env: dict) -> list[tuple[str, OutputDecl]]:
        return [(GROOVY.eval(gstring_ast(o.pattern), env), o) for o in self.outputs]


def _section(body: str, name: str, following: tuple[str, ...]) -> str:
    m = re.search(rf"(?m)^\s*{name}:\s*$", body)
    if not m:
        return ""
    rest = body[m.end():]
    ends = [re.search(rf"(?m)^\s*{f}:\s*$", rest) for f in following]
    end = min([e.start() for e in ends if e] + [len(rest)])
    return rest[:end]


def _split_script(block: str) -> tuple[list, str]:
    start = block.index('"""')
    end = block.index('"""', start + 3)
    defs = Parser(block[:start]).statements() if block[:start].strip() else []
    return defs, block[start + 3:end]


def stub_parts(text: str):
    body = text[text.index("stub:"):]
    return _split_script(body[len("stub:"):])


def parse_process(path: Path) -> Process:
    text = path.read_text()
    m = re.search(r"(?m)^process\s+(\w+)\s*\{", text)
    if not m:
        raise GroovyError(f"{path}: no process")
    body = text[m.end():]
    sections = ("input", "output", "when", "script", "stub", "exec")
    head = body[: re.search(r"(?m)^\s*(input|output|script):\s*$", body).start()]
    directives: dict[str, list[str]] = {}
    for line in head.splitlines():
        dm = re.match(r"\s*(\w+)\s+(.*)$", line)
        if dm:
            directives.setdefault(dm.group(1), []).append(dm.group(2).strip())
    inputs = []
    for line in _section(body, "input", sections).splitlines():
        line = line.strip()
        if not line or line.startswith("//"):
            continue
        decls = []
        for dm in re.finditer(r"\b(val|path)\s*\(?\s*(\w+)\s*(?:,\s*stageAs:\s*['\"]([^'\"]+)['\"])?", line):
            decls.append(InputDecl(dm.group(1), dm.group(2), dm.group(3)))
        inputs.append(decls)
    outputs = []
    for line in _section(body, "output", sections).splitlines():
        line = line.strip()
        if not line or line.startswith("//"):
            continue
        emit = re.search(r"emit:\s*(\w+)", line)
        optional = bool(re.search(r"optional:\s*true", line))
        for pm in re.finditer(r"\bpath\s*\(?\s*\"([^\"]+)\"", line):
            outputs.append(OutputDecl(pm.group(1), emit.group(1) if emit else None, optional))
    script_block = _section(body, "script", sections)
    defs, template = _split_script(script_block)
    _, stub_template = stub_parts(text)
    return Process(m.group(1), path, text, inputs, outputs, defs, template, stub_template, directives)


def local_processes() -> dict[str, Process]:
    """Every cellbench module, by process name."""
    out = {}
    for path in sorted(MODULES.glob("*/main.nf")):
        proc = parse_process(path)
        out[proc.name] = proc
    return out


def command_argv(shell: str) -> list[list[str]]:
    """The commands of a rendered script: continuation lines joined, one argv per command line."""
    joined = re.sub(r"\\\n", " ", shell)
    return [shlex.split(line) for line in joined.splitlines() if line.strip() and not line.strip().startswith("#")]


# --------------------------------------------------------------------------------------------------
# config: params and ext.args


def _blocks(text: str, name: str) -> list[str]:
    """Bodies of every `name { ... }` block (brace matched, strings respected, line comments skipped)."""
    out = []
    for m in re.finditer(rf"(?m)^\s*{re.escape(name)}\s*\{{", text):
        depth, j = 1, m.end()
        while depth:
            c = text[j]
            if c == "/" and text[j + 1] == "/":  # a line comment: its quotes and braces are prose
                j = text.index("\n", j)
                continue
            if c in "'\"":
                q = c
                j += 1
                while text[j] != q:
                    j += 2 if text[j] == "\\" else 1
            depth += {"{": 1, "}": -1}.get(c, 0)
            j += 1
        out.append(text[m.end():j - 1])
    return out


def read_params(*configs: Path, project_dir: Path = ROOT) -> dict:
    """params from `params { }` blocks of these config files, later files overriding earlier ones."""
    params: dict = {}
    env = {"projectDir": str(project_dir), "params": params}
    for cfg in configs:
        text = re.sub(r"/\*.*?\*/", "", cfg.read_text(), flags=re.DOTALL)
        for block in _blocks(text, "params"):
            for line in block.splitlines():
                line = line.split("//")[0].strip() if not re.search(r"['\"][^'\"]*//", line) else line.strip()
                m = re.match(r"(\w+)\s*=\s*(.+)$", line)
                if not m:
                    continue
                try:
                    params[m.group(1)] = GROOVY.eval(Parser(m.group(2)).expr(), env)
                except GroovyError:
                    params[m.group(1)] = m.group(2)  # e.g. new java.util.Date(): not needed here
    return params


def read_ext_args(*configs: Path) -> list[tuple[str, str, object]]:
    """(selector kind, pattern, ext.args AST) of `withName:` / `withLabel:` blocks, in file order."""
    out = []
    for cfg in configs:
        text = re.sub(r"/\*.*?\*/", "", cfg.read_text(), flags=re.DOTALL)
        for m in re.finditer(r"(withName|withLabel)\s*:\s*'([^']+)'\s*\{", text):
            depth, j = 1, m.end()
            while depth:
                depth += {"{": 1, "}": -1}.get(text[j], 0)
                j += 1
            body = text[m.end():j - 1]
            am = re.search(r"ext\.args\s*=\s*(.+)", body)
            if am:
                out.append((m.group(1), m.group(2), Parser(am.group(1).strip()).expr()))
    return out


def ext_args_for(qualified: str, labels: list[str], selectors, params: dict, meta: dict | None = None) -> str:
    """ext.args of a process as Nextflow resolves it: the last matching selector wins."""
    value = None
    for kind, pattern, node in selectors:
        hit = (
            re.fullmatch(pattern, qualified) or re.fullmatch(pattern, qualified.rsplit(":", 1)[-1])
            if kind == "withName"
            else pattern in labels
        )
        if hit:
            v = GROOVY.eval(node, {"params": params, "meta": meta or {}, "task": Obj()})
            value = v.call(GROOVY) if isinstance(v, Closure) else v
    return value


# --------------------------------------------------------------------------------------------------
# workflow structure


def qualified_names() -> dict[str, list[str]]:
    """process name -> its fully qualified names under the CELLBENCH workflow."""
    out: dict[str, list[str]] = {}

    def walk(nf: Path, prefix: str):
        text = nf.read_text()
        for m in re.finditer(r"include\s*\{([^}]*)\}\s*from\s*'([^']+)'", text):
            target = m.group(2)
            if target.startswith("plugin/"):
                continue
            path = (nf.parent / target).resolve()
            path = path / "main.nf" if path.is_dir() else path.with_suffix(".nf") if not path.suffix else path
            names = [n.strip() for n in m.group(1).split(";")]
            ttext = path.read_text()
            for n in names:
                if re.search(rf"(?m)^process\s+{n}\b", ttext):
                    out.setdefault(n, []).append(prefix + n)
                elif re.search(rf"(?m)^workflow\s+{n}\b", ttext):
                    walk(path, prefix + n + ":")

    walk(ROOT / "main.nf", "")
    return out


def groovy_function_value(path: Path, name: str):
    """The value of a no-argument function `def name() { return LITERAL }` (maps and lists)."""
    text = path.read_text()
    m = re.search(rf"(?m)^def\s+{name}\(\)\s*\{{\s*return\s+", text)
    if not m:
        raise GroovyError(f"{path}: no function {name}()")
    depth, j = 1, m.end()
    while depth:
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        j += 1
    return GROOVY.eval(Parser(text[m.end():j - 1]).expr(), {})


def stage_name(pattern: str | None, name: str, index: int) -> str:
    """Where Nextflow stages an input file: its name, or `stageAs` with * = name and ? = index."""
    if not pattern:
        return name
    return pattern.replace("?", str(index)).replace("*", name)


def glob_outputs(workdir: Path, pattern: str, staged: set[str]) -> list[Path]:
    """Files (or folders) matching an output pattern, `*` not crossing `/`, inputs excluded
    (Nextflow's default for output globs)."""
    parts = pattern.split("/")
    hits = []
    for p in sorted(workdir.rglob("*")):
        rel = p.relative_to(workdir)
        if len(rel.parts) != len(parts) or rel.as_posix() in staged:
            continue
        if all(fnmatch.fnmatchcase(a, b) for a, b in zip(rel.parts, parts)):
            hits.append(p)
    return hits
