"""`--obs-query` is parsed by cellbench.io.obs_query, never evaluated: same cells as pandas for the
filters the grammar allows, a one-line InputError (and nothing executed) for anything else."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from cellbench.errors import InputError
from cellbench.io.obs_query import MAX_DEPTH, select_cells

DATA = Path(__file__).parent / "data" / "papalexi2021_thp1_crispr_lowmoi.h5ad"


@pytest.fixture(scope="module")
def obs() -> pd.DataFrame:
    return ad.read_h5ad(DATA, backed="r").obs.copy()


@pytest.fixture()
def marker(tmp_path):
    """A file that a hostile query would create if anything in it ran."""
    path = tmp_path / "pwned"
    yield path
    assert not path.exists(), "a query executed code"


def hostile(marker: Path) -> list[str]:
    m = str(marker)
    return [
        f'n_genes >= 0 and @logging.os.system("touch {m}") == 0',
        f'grna_umi_max >= 0 and @logging.os.system("touch {m}") == 0',
        f"__import__('os').system('touch {m}')",
        f"grna_umi_max >= 0 and __import__('os').system('touch {m}') == 0",
        "n_grna_detected.__class__",
        "grna_umi_max.__class__.__mro__ == 1",
        "(lambda: 1)()",
        f"(lambda: __import__('os').system('touch {m}'))() == 0",
        "`grna_umi_max`.__class__ == 1",
        f"`os`.system('touch {m}') == 0",
        "`__builtins__` == 1",
        "`grna_umi_max",
        "``== 1",
        f"grna_umi_max >= 0 and open('{m}', 'w') == 0",
        "[c for c in ().__class__.__base__.__subclasses__()] == 1",
        "grna_umi_max + 1 > 5",
        "grna_umi_max ** 2 > 5",
        "grna_umi_max >= 0; import os",
        "grna_umi_max >= 0 #",
        "control == 1 if True else 0",
        "control = 1",
    ]


# ---------------------------------------------------------------------------------- same as pandas

LEGITIMATE = [
    "grna_umi_max >= 5 and grna_umi_frac >= 0.8",  # the filter tests/test_perturbation.py uses
    "grna_umi_max >= 5 & grna_umi_frac >= 0.8",
    "grna_umi_max < 5 or grna_umi_frac < 0.8 and control == 1",
    "(grna_umi_max < 5 or grna_umi_frac < 0.8) and control == 1",
    "not grna_umi_max >= 5",
    "not (grna_umi_max >= 5 and grna_umi_frac >= 0.8)",
    "not not control == 0",
    'condition == "ctrl"',
    "condition != 'ctrl'",
    'bio_rep == "rep_1" or bio_rep == "rep_3"',
    'condition in ["ctrl", "STAT1", "JAK2"]',
    "condition not in ['ctrl']",
    'gene_target in ["non-targeting"]',
    "control in [1]",
    "n_grna_detected not in [9, 10, 11]",
    "3 < n_grna_detected <= 12",
    "5 <= grna_umi_max",
    "grna_umi_frac > .5",
    "grna_umi_frac >= 8e-1",
    "n_grna_detected > -1",
    "control == True",
    "`bio_rep` == 'rep_2'",
    "grna_umi_max >= n_grna_detected",
    "((grna_umi_max > 10))",
    'condition == "no-such-condition"',
]


@pytest.mark.parametrize("query", LEGITIMATE)
def test_matches_pandas_query_on_real_obs(obs, query):
    ours = select_cells(obs, query, source="data.h5ad")
    assert ours.dtype == bool and ours.shape == (len(obs),)
    expected = obs.index.isin(obs.query(query).index)
    np.testing.assert_array_equal(ours, expected)


def test_matches_pandas_with_missing_values():
    df = pd.DataFrame({
        "x": [1.0, np.nan, 3.0, np.nan],
        "s": ["a", None, "c", "a"],
        "c": pd.Categorical(["a", "b", None, "a"]),
        "flag": [True, False, True, False],
        "weird col": [1, 2, 3, 4],
    })
    for query in ["x > 1", "x == 1", "x != 1", "not x > 1", "x in [1, 3]", "x not in [1]", "s == 'a'",
                  "s != 'a'", "s in ['a']", "s not in ['a']", "c == 'a'", "c != 'a'", "c not in ['a']",
                  "flag", "not flag", "flag and x > 0", "flag == False", "`weird col` >= 3", "s > 'b'",
                  "x in []"]:
        expected = df.index.isin(df.query(query).index)
        np.testing.assert_array_equal(select_cells(df, query, source="t"), expected, err_msg=query)


# ---------------------------------------------------------------------------------- rejected input


def one_line_error(obs, query) -> str:
    with pytest.raises(InputError) as info:
        select_cells(obs, query, source="data.h5ad")
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith("data.h5ad: --obs-query ")
    return msg


def test_hostile_queries_are_rejected_and_never_run(obs, marker):
    for query in hostile(marker):
        msg = one_line_error(obs, query)
        assert "character " in msg, msg
    assert not marker.exists()


@pytest.mark.parametrize(("query", "expected"), [
    ('n_genes >= 0 and @logging.os.system("touch /tmp/x") == 0', "character 18: '@'"),
    ("__import__('os').system('touch /tmp/x')", "attribute access"),
    ("n_grna_detected.__class__", "character 16: '.' (attribute access)"),
    ("grna_umi_max(1) > 0", "function calls are not allowed"),
    ("(lambda: 1)()", "character 8: unexpected character ':'"),
    ("nope == 1", "unknown column 'nope' (obs has: bio_rep, grna, gene_target, grna_umi_max"),
    ("bio_rep == 5", "type mismatch: column 'bio_rep' holds strings but 5 is a number"),
    ("grna_umi_max >= '5'", "type mismatch: column 'grna_umi_max' holds numbers but '5' is a string"),
    ("condition in ['ctrl', 1]", "type mismatch"),
    ("grna_umi_max >= bio_rep", "type mismatch"),
    ("bio_rep < 'rep_2'", "unordered categorical"),
    ("(grna_umi_max > 1", "character 18: expected ')' to close the '(' of character 1"),
    ("grna_umi_max > 1)", "character 17: unbalanced ')'"),
    ("()", "expected a column name or a value"),
    ("", "character 1: empty query"),
    ("   ", "empty query"),
    ("grna_umi_max", "expected a comparison"),
    ("grna_umi_max >", "expected a column name, a value"),
    ("grna_umi_max > 1 and", "found the end of the query"),
    ("grna_umi_max > 1 grna_umi_frac > 0", "expected 'and', 'or' or the end"),
    ("1 == 1", "needs a column on one side"),
    ("control in 1", "expected '[' starting a list"),
    ("control in [1, control]", "expected a value"),
    ("control in [1 2]", "expected ',' or ']'"),
    ("bio_rep == 'rep_1", "unterminated string"),
    ("bio_rep == 'a\\n'", "unsupported escape"),
    ("control ~= 1", "'~' is not allowed"),
    ("control == " + "9" * 5000, "number too long"),
])
def test_rejections_say_where_and_what(obs, query, expected):
    msg = one_line_error(obs, query)
    assert expected in msg, msg
    assert repr(query)[1:41] in msg


def test_nesting_is_bounded_without_recursion_error(obs):
    ok = "(" * MAX_DEPTH + "control == 1" + ")" * MAX_DEPTH
    np.testing.assert_array_equal(select_cells(obs, ok, source="t"), (obs["control"] == 1).to_numpy())
    for query in ["(" * (MAX_DEPTH + 1) + "control == 1" + ")" * (MAX_DEPTH + 1),
                  "(" * 4000 + "control == 1" + ")" * 4000,
                  "not " * 1000 + "control == 1",
                  "not (" * 1000 + "control == 1" + ")" * 1000]:
        assert f"nesting deeper than {MAX_DEPTH}" in one_line_error(obs, query)


def test_long_flat_queries_are_fine_up_to_the_cap(obs):
    query = " and ".join(["grna_umi_max >= 5"] * 400)  # ~8,000 characters, parsed without deep recursion
    np.testing.assert_array_equal(select_cells(obs, query, source="t"), (obs["grna_umi_max"] >= 5).to_numpy())
    with pytest.raises(InputError, match="at most 10000"):
        select_cells(obs, "x" * 10_001, source="t")


def test_every_string_and_literal_keeps_its_meaning():
    df = pd.DataFrame({"s": ["it's", 'say "hi"', "a\\b", "and"], "and": [1, 2, 3, 4]})
    assert select_cells(df, '''s == "it's"''', source="t").tolist() == [True, False, False, False]
    assert select_cells(df, """s == 'say "hi"'""", source="t").tolist() == [False, True, False, False]
    assert select_cells(df, r"s == 'a\\b'", source="t").tolist() == [False, False, True, False]
    assert select_cells(df, "s == 'and' or `and` == 1", source="t").tolist() == [True, False, False, True]


# ---------------------------------------------------------------------------------- through the CLI


@pytest.mark.parametrize("query", [
    'n_genes >= 0 and @logging.os.system("touch {m}") == 0',
    "grna_umi_max >= 0 and __import__('os').system('touch {m}') == 0",
])
def test_cli_rejects_hostile_query(tmp_path, marker, query):
    out = tmp_path / "prepared.h5ad"
    res = subprocess.run(
        [sys.executable, "-m", "cellbench", "perturbation-prepare", "--input", str(DATA),
         "--obs-query", query.format(m=marker), "--output", str(out)],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert res.returncode != 0
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {DATA}: --obs-query "), res.stderr
    assert "Traceback" not in res.stderr
    assert not out.exists() and not marker.exists()
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------- property

try:
    import hypothesis
    from hypothesis import strategies as st
except ImportError:  # the `test` extra installs it; without it only the property test is skipped
    hypothesis = None

TOKENS = ["grna_umi_max", "bio_rep", "condition", "control", "`bio_rep`", "`x y`", "nope", "and", "or", "not",
          "in", "True", "False", "(", ")", "[", "]", ",", "==", "!=", "<", "<=", ">", ">=", "&", "|", "~",
          "@",
          ".", "=", "5", "-1.5", "1e3", "'rep_1'", '"ctrl"', "'", '"', "`", "__import__", "os", "system",
          "lambda", ":", "+", "\\", " ", "\n"]


if hypothesis is None:
    def test_random_input_only_ever_raises_input_error():
        pytest.skip("hypothesis is not installed")
else:
    @hypothesis.settings(max_examples=400, deadline=None,
                         suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture])
    @hypothesis.given(st.one_of(st.text(max_size=80),
                                st.lists(st.sampled_from(TOKENS), max_size=30).map(" ".join)))
    def test_random_input_only_ever_raises_input_error(obs, marker, query):
        try:
            mask = select_cells(obs, query, source="t")
        except InputError as exc:
            assert "\n" not in str(exc)
        else:
            assert mask.dtype == bool and mask.shape == (len(obs),)
        assert not marker.exists()
