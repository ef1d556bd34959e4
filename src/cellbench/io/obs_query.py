"""A cell filter on obs (`--obs-query`), parsed by hand so that a query can never run code.

Why it exists: the filter used to go to pandas `DataFrame.eval`, which resolves `@name` and
attribute chains against the caller's Python scope, so a query (or a samplesheet's `obs_query`
column) could run any command. This module accepts only the small language below, never calls
eval/exec/compile or pandas eval/query, and raises `InputError` for everything else.

Why this is long: it is one small language (tokenizer, parser and evaluator of the grammar below) kept in
one file, so the whole surface a user's query can reach is read, reviewed and fuzzed in one place.

Grammar (precedence as in Python: `not` binds tighter than `and`, `and` tighter than `or`)::

    query      := or_expr
    or_expr    := and_expr (("or" | "|") and_expr)*
    and_expr   := not_expr (("and" | "&") not_expr)*
    not_expr   := "not" not_expr | primary
    primary    := "(" or_expr ")" | comparison
    comparison := operand (cmp operand)+        # chained, as in Python: 1 < a <= 5
                | operand ["not"] "in" "[" [literal ("," literal)* [","]] "]"
                | column                        # a column of True/False values
    cmp        := "==" | "!=" | "<" | "<=" | ">" | ">="
    operand    := column | literal
    column     := identifier | `backtick-quoted name`   # names an obs column
    literal    := int | float | 'string' | "string" | True | False

A comparison needs a column on at least one side; the column and the literal must be of one
kind (numbers/True/False against numeric or boolean columns, strings against string or
categorical-of-string columns). Strings take the escapes \\\\, \\' and \\" only. Missing values
behave as in pandas: every comparison with a missing value is False except `!=` (True), and
`not in` keeps them. `&` and `|` are accepted as `and` and `or` (pandas gives them that
precedence in a query). Nesting (parentheses, `not`) is capped at `MAX_DEPTH` and the query at
`MAX_LENGTH` characters, so no input can exhaust the stack.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cellbench.errors import InputError

MAX_DEPTH = 100
MAX_LENGTH = 10_000

_CMP = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt,
        ">=": operator.ge}
_KEYWORDS = {"and", "or", "not", "in", "True", "False"}
_NUMBER = re.compile(r"(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?")
_IDENT = re.compile(r"[^\W\d]\w*")
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class _Tok:
    kind: str  # "name", "column", "number", "string", "op", "end"
    value: object
    pos: int  # 0-based offset in the query
    text: str  # how it was written, for messages


@dataclass(frozen=True)
class _Column:
    name: str
    pos: int


@dataclass(frozen=True)
class _Literal:
    value: object  # int, float, str or bool
    pos: int


class _Parser:
    def __init__(self, obs: pd.DataFrame, query: str, source: str):
        self.obs, self.query, self.source = obs, query, source
        self.n = len(obs)
        self.toks = self._tokenize()
        self.i = 0
        self.depth = 0

    # ---- errors -------------------------------------------------------------------------------

    def fail(self, pos: int, problem: str) -> InputError:
        q = self.query if len(self.query) <= 200 else self.query[:200] + "..."
        return InputError(f"{self.source}: --obs-query {q!r}: character {pos + 1}: {problem}")

    def expected(self, what: str, tok: _Tok | None = None) -> InputError:
        tok = tok or self.peek()
        found = "the end of the query" if tok.kind == "end" else repr(tok.text)
        return self.fail(tok.pos, f"expected {what}, found {found}")

    # ---- tokens -------------------------------------------------------------------------------

    def _tokenize(self) -> list[_Tok]:
        q, toks, i = self.query, [], 0
        while i < len(q):
            m = _SPACE.match(q, i)
            if m:
                i = m.end()
                continue
            c = q[i]
            two = q[i:i + 2]
            if two in ("==", "!=", "<=", ">="):
                toks.append(_Tok("op", two, i, two))
                i += 2
            elif c in "<>()[],&|":
                toks.append(_Tok("op", c, i, c))
                i += 1
            elif c in "'\"":
                i = self._string(i, toks)
            elif c == "`":
                end = q.find("`", i + 1)
                if end < 0:
                    raise self.fail(i, "unterminated `backtick` column name")
                if end == i + 1:
                    raise self.fail(i, "empty `backtick` column name")
                toks.append(_Tok("column", q[i + 1:end], i, q[i:end + 1]))
                i = end + 1
            elif c in "+-" or c.isdigit() or (c == "." and i + 1 < len(q) and q[i + 1].isdigit()):
                i = self._number(i, toks)
            elif _IDENT.match(q, i):
                m = _IDENT.match(q, i)
                toks.append(_Tok("name", m.group(), i, m.group()))
                i = m.end()
            elif c == "@":
                raise self.fail(i, "'@' (a Python variable) is not allowed")
            elif c == "=":
                raise self.fail(i, "'=' is not a comparison; expected '=='")
            elif c == "~":
                raise self.fail(i, "'~' is not allowed; expected 'not'")
            elif c == ".":
                raise self.fail(i, "'.' (attribute access) is not allowed")
            else:
                raise self.fail(i, f"unexpected character {c!r}")
        toks.append(_Tok("end", None, len(q), ""))
        return toks

    def _string(self, i: int, toks: list[_Tok]) -> int:
        q, quote, j, out = self.query, self.query[i], i + 1, []
        while j < len(q) and q[j] != quote:
            if q[j] == "\\":
                if j + 1 < len(q) and q[j + 1] in "\\'\"":
                    out.append(q[j + 1])
                    j += 2
                    continue
                raise self.fail(j, "unsupported escape in a string (only \\\\, \\' and \\\" are allowed)")
            out.append(q[j])
            j += 1
        if j >= len(q):
            raise self.fail(i, f"unterminated string (expected a closing {quote})")
        toks.append(_Tok("string", "".join(out), i, q[i:j + 1]))
        return j + 1

    def _number(self, i: int, toks: list[_Tok]) -> int:
        q, j, sign = self.query, i, 1
        if q[j] in "+-":
            sign = -1 if q[j] == "-" else 1
            j += 1
            m = _SPACE.match(q, j)
            if m:
                j = m.end()
        m = _NUMBER.match(q, j)
        if not m:
            raise self.fail(i, "expected a number after the sign (arithmetic is not allowed)")
        if m.end() < len(q) and (q[m.end()].isalnum() or q[m.end()] in "_."):
            raise self.fail(m.end(), f"unexpected character {q[m.end()]!r} after the number")
        text = m.group()
        try:
            value = float(text) if any(ch in text for ch in ".eE") else int(text)
        except ValueError:  # e.g. more digits than Python converts
            raise self.fail(i, "number too long") from None
        toks.append(_Tok("number", sign * value, i, q[i:m.end()]))
        return m.end()

    def peek(self, k: int = 0) -> _Tok:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def is_op(self, *ops: str) -> bool:
        return self.peek().kind == "op" and self.peek().value in ops

    def is_word(self, *words: str) -> bool:
        return self.peek().kind == "name" and self.peek().value in words

    # ---- grammar ------------------------------------------------------------------------------

    def parse(self) -> np.ndarray:
        if self.peek().kind == "end":
            raise self.fail(0, "empty query")
        mask = self.or_expr()
        if self.is_op(")"):
            raise self.fail(self.peek().pos, "unbalanced ')' (no '(' to close)")
        if self.peek().kind != "end":
            raise self.expected("'and', 'or' or the end of the query")
        return mask

    def or_expr(self) -> np.ndarray:
        mask = self.and_expr()
        while self.is_word("or") or self.is_op("|"):
            self.take()
            mask = mask | self.and_expr()
        return mask

    def and_expr(self) -> np.ndarray:
        mask = self.not_expr()
        while self.is_word("and") or self.is_op("&"):
            self.take()
            mask = mask & self.not_expr()
        return mask

    def not_expr(self) -> np.ndarray:
        negate, start = False, self.depth
        while self.is_word("not"):
            tok = self.take()
            self.enter(tok)
            negate = not negate
        mask = self.primary()
        self.depth = start
        return ~mask if negate else mask

    def enter(self, tok: _Tok) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.fail(tok.pos, f"nesting deeper than {MAX_DEPTH} levels")

    def primary(self) -> np.ndarray:
        if self.is_op("("):
            tok = self.take()
            self.enter(tok)
            mask = self.or_expr()
            if not self.is_op(")"):
                raise self.expected(f"')' to close the '(' of character {tok.pos + 1}")
            self.take()
            self.depth -= 1
            return mask
        return self.comparison()

    def operand(self) -> _Column | _Literal:
        tok = self.peek()
        if tok.kind == "column" or (tok.kind == "name" and tok.value not in _KEYWORDS):
            self.take()
            if self.is_op("("):
                raise self.fail(self.peek().pos, f"function calls are not allowed ({tok.text}(...))")
            if self.is_op("["):
                raise self.fail(self.peek().pos, "indexing is not allowed")
            return _Column(tok.value, tok.pos)
        if tok.kind in ("number", "string"):
            self.take()
            return _Literal(tok.value, tok.pos)
        if tok.kind == "name" and tok.value in ("True", "False"):
            self.take()
            return _Literal(tok.value == "True", tok.pos)
        if self.is_op(")"):
            raise self.expected("a column name or a value (empty or unbalanced parentheses?)")
        if self.is_op("["):
            raise self.expected("a column name or a value (a list goes after 'in')")
        raise self.expected("a column name, a value, 'not' or '('")

    def comparison(self) -> np.ndarray:
        left = self.operand()
        not_in = self.is_word("not") and self.peek(1).kind == "name" and self.peek(1).value == "in"
        if self.is_word("in") or not_in:
            negate = self.take().value == "not"
            if negate:
                self.take()
            if not isinstance(left, _Column):
                raise self.fail(left.pos, "expected a column name before 'in'")
            mask = self.isin(left, self.literal_list())
            return ~mask if negate else mask
        if not (self.peek().kind == "op" and self.peek().value in _CMP):
            if isinstance(left, _Column):
                series = self.column(left)
                if _kind(series) == "bool":
                    return series.to_numpy(dtype=bool, na_value=False)
                raise self.expected(f"a comparison (== != < <= > >= in) after column '{left.name}', "
                                    "which is not a True/False column")
            raise self.expected("a comparison (== != < <= > >= in) after the value")
        mask = None
        while self.peek().kind == "op" and self.peek().value in _CMP:
            op = self.take()
            right = self.operand()
            pair = self.compare(left, op, right)
            mask = pair if mask is None else mask & pair
            left = right
        return mask

    def literal_list(self) -> list[_Literal]:
        if not self.is_op("["):
            raise self.expected("'[' starting a list of values after 'in'")
        self.take()
        items: list[_Literal] = []
        while not self.is_op("]"):
            tok = self.peek()
            if tok.kind in ("number", "string"):
                items.append(_Literal(tok.value, tok.pos))
            elif tok.kind == "name" and tok.value in ("True", "False"):
                items.append(_Literal(tok.value == "True", tok.pos))
            else:
                raise self.expected("a value (number, quoted string, True or False) in the list")
            self.take()
            if self.is_op(","):
                self.take()
            elif not self.is_op("]"):
                raise self.expected("',' or ']' in the list")
        self.take()
        return items

    # ---- evaluation ---------------------------------------------------------------------------

    def column(self, col: _Column) -> pd.Series:
        if col.name not in self.obs.columns:
            names = [str(c) for c in self.obs.columns]
            shown = ", ".join(names[:30]) + (f", ... ({len(names) - 30} more)" if len(names) > 30 else "")
            raise self.fail(col.pos, f"unknown column {col.name!r} (obs has: {shown or 'no columns'})")
        series = self.obs[col.name]
        if isinstance(series, pd.DataFrame):
            raise self.fail(col.pos, f"column name {col.name!r} is not unique in obs")
        return series

    def check(self, series: pd.Series, col: _Column, lit: _Literal) -> None:
        kind = _kind(series)
        if kind is None:
            raise self.fail(col.pos, f"column {col.name!r} has dtype {series.dtype}, which --obs-query "
                                     "cannot compare")
        if _literal_kind(lit.value) not in _COMPATIBLE[kind]:
            raise self.fail(lit.pos, f"type mismatch: column {col.name!r} holds {_NOUN[kind]} but "
                                     f"{_literal_repr(lit.value)} is {_NOUN_ONE[_literal_kind(lit.value)]}")

    def compare(self, left, op: _Tok, right) -> np.ndarray:
        fn = _CMP[op.value]
        if isinstance(left, _Literal) and isinstance(right, _Literal):
            raise self.fail(left.pos, "a comparison needs a column on one side (expected a column name)")
        if isinstance(left, _Literal):  # 5 < a  is  a > 5
            left, right = right, left
            fn = {"<": operator.gt, "<=": operator.ge, ">": operator.lt, ">=": operator.le}.get(op.value, fn)
        series = self.column(left)
        if isinstance(right, _Column):
            other = self.column(right)
            a, b = _kind(series), _kind(other)
            if a is None or b is None or _NUMERIC_OR_STRING[a] != _NUMERIC_OR_STRING[b]:
                held = _NOUN.get(a, series.dtype), _NOUN.get(b, other.dtype)
                raise self.fail(op.pos, f"type mismatch: column {left.name!r} holds {held[0]} but column "
                                        f"{right.name!r} holds {held[1]}")
            if op.value not in ("==", "!=") and (_unordered(series) or _unordered(other)):
                raise self.fail(op.pos, f"'{op.value}' needs ordered values, but a column is an unordered "
                                        "categorical")
            return self.run(op, lambda: fn(_plain(series), _plain(other)))
        self.check(series, left, right)
        if op.value not in ("==", "!=") and isinstance(series.dtype, pd.CategoricalDtype):
            if not series.dtype.ordered:
                raise self.fail(op.pos, f"'{op.value}' cannot compare column {left.name!r}, an unordered "
                                        "categorical (use ==, != or in)")
            if right.value not in series.dtype.categories:
                raise self.fail(right.pos, f"{_literal_repr(right.value)} is not a category of the ordered "
                                           f"column {left.name!r}")
        return self.run(op, lambda: fn(series, right.value))

    def isin(self, col: _Column, items: list[_Literal]) -> np.ndarray:
        series = self.column(col)
        for lit in items:
            self.check(series, col, lit)
        return self.run(self.peek(), lambda: series.isin([lit.value for lit in items]))

    def run(self, tok: _Tok, compute) -> np.ndarray:
        try:
            result = compute()
        except (TypeError, ValueError, OverflowError) as exc:  # data pandas cannot compare (mixed objects)
            why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise self.fail(tok.pos, f"cannot compare ({why})") from None
        return pd.Series(result).to_numpy(dtype=bool, na_value=False)


_COMPATIBLE = {"number": {"number", "bool"}, "bool": {"number", "bool"}, "string": {"string"}}
_NUMERIC_OR_STRING = {"number": "number", "bool": "number", "string": "string"}
_NOUN = {"number": "numbers", "bool": "True/False values", "string": "strings"}
_NOUN_ONE = {"number": "a number", "bool": "True/False", "string": "a string"}


def _literal_kind(value) -> str:
    if isinstance(value, bool):
        return "bool"
    return "string" if isinstance(value, str) else "number"


def _literal_repr(value) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def _kind(series: pd.Series) -> str | None:
    """'number', 'bool', 'string', or None for a column the language cannot compare."""
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return _kind(pd.Series(dtype.categories))
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_complex_dtype(dtype):
        return "number"
    if pd.api.types.is_string_dtype(dtype) or dtype == object:
        inferred = pd.api.types.infer_dtype(series, skipna=True)
        if inferred in ("string", "empty"):
            return "string"
        if inferred == "boolean":
            return "bool"
        if inferred in ("integer", "floating", "mixed-integer-float", "decimal"):
            return "number"
    return None


def _unordered(series: pd.Series) -> bool:
    return isinstance(series.dtype, pd.CategoricalDtype) and not series.dtype.ordered


def _plain(series: pd.Series) -> pd.Series:
    """A categorical column as its values, so two columns with different categories compare."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        return pd.Series(np.asarray(series), index=series.index)
    return series


def select_cells(obs: pd.DataFrame, query: str, *, source: str) -> np.ndarray:
    """The boolean mask (one per row of `obs`) of the cells `query` keeps; `InputError` naming
    `source`, the query, the character position and what was expected for anything outside the
    grammar in this module's docstring. Nothing in `query` is ever executed."""
    if not isinstance(query, str):
        raise InputError(f"{source}: --obs-query must be a string")
    if len(query) > MAX_LENGTH:
        raise InputError(f"{source}: --obs-query is {len(query)} characters long; at most {MAX_LENGTH} "
                         "are allowed")
    mask = _Parser(obs, query, source).parse()
    return np.asarray(mask, dtype=bool).reshape(len(obs))
