"""The published JSON Schema: valid for every sample, stricter never than `check` except on link shape."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import ROOT, SAMPLES
from tests.unit.test_fuzz import DATA, KEYS, TOPOLOGY, dump, wired_topologies
from topograph.cli import main
from topograph.front import shape
from topograph.front.diagnostics import Report
from topograph.front.loader import load_text
from topograph.front.schema import schema

VALIDATOR = jsonschema.Draft202012Validator(schema())


def _loadable(path: Path) -> bool:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    report = Report()
    return load_text(text, path.name, report) is not None and not report.has_errors


# golden error cases that are YAML documents at all (not the unreadable or syntax-error ones)
GOLDEN_DOCS = sorted(p for p in (ROOT / "tests" / "golden" / "errors").glob("*.yml") if _loadable(p))


def data_of(text: str) -> Any:
    """The document as topograph reads it (YAML 1.2-like scalars, as an editor's language server sees them)."""
    report = Report()
    source = load_text(text, "s.yml", report)
    assert source is not None and not report.has_errors
    return source.data


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(schema())
    assert schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"


@pytest.mark.parametrize("sample", SAMPLES, ids=[s.stem for s in SAMPLES])
def test_every_sample_is_valid(sample: Path) -> None:
    errors = [e.message for e in VALIDATOR.iter_errors(data_of(sample.read_text()))]
    assert errors == []


@pytest.mark.parametrize("text", [
    "nodes: {a: null, b: {}}\n",
    "nodes: {a: {interfaces: {e: 10.0.0.1/24, f: [10.0.0.2/24], g: null, h: {address: 10.0.0.3/24, mtu: 1500}}}}\n",
    "nodes: {a: {bridges: {br: null}}}\nlinks: [[a:e, br:p]]\n",
    "lab: x\ndescription: y\nnodes: {a: {kind: external}}\nexpect: [{from: a, to: a, proto: tcp, port: 1, reach: false}]\n",
    "nodes: {a: {filter: {input: {rules: [{state: new, action: drop}, {state: [established], action: accept}]}}}}\n",
])
def test_shorthands_are_valid(text: str) -> None:
    assert [e.message for e in VALIDATOR.iter_errors(data_of(text))] == []


@pytest.mark.parametrize(("text", "why"), [
    ("lab: x\n", "'nodes' is a required property"),
    ("nodes: {}\nlink: []\n", "Additional properties"),
    ("nodes: {a: {kind: router}}\n", "'router' is not one of"),
    ("nodes: {a: {interfaces: {e: 5}}}\n", "is not valid under any of the given schemas"),
    ("nodes: {a: {interfaces: {e: {mtu: 20}}}}\n", ""),
    ("nodes: {a: {routes: [{via: 10.0.0.1}]}}\n", "'to' is a required property"),
    ("nodes: {a: {port_forwards: [{port: 70000, to: x}]}}\n", "70000 is greater than the maximum"),
    ("nodes: {}\nlinks: [[a:b, c:d, e:f]]\n", "is too long"),
    ("nodes: {}\nlinks: [[a, c:d]]\n", "does not match"),
    ("nodes: {}\nexpect: [{from: a, to: b, proto: sctp}]\n", "'sctp' is not one of"),
    ("nodes: {a: {filter: {input: {rules: [{state: old, action: drop}]}}}}\n", "is not valid under any of the given schemas"),
    ("- nodes\n", "is not of type 'object'"),
])
def test_bad_documents_are_rejected(text: str, why: str) -> None:
    errors = list(VALIDATOR.iter_errors(data_of(text)))
    assert errors, "the schema accepted a bad document"
    messages = [m for e in errors for m in _leaves(e)]  # inside anyOf (the shorthands) the reason is nested
    assert any(why in m for m in messages), messages


def _leaves(error: jsonschema.ValidationError) -> list[str]:
    return [error.message] + [m for sub in error.context or [] for m in _leaves(sub)]


@pytest.mark.parametrize("case", GOLDEN_DOCS, ids=[c.stem for c in GOLDEN_DOCS])
def test_schema_agrees_with_the_shape_check(case: Path) -> None:
    """An editor and `topograph check` must not disagree about a document's shape."""
    report = Report()
    source = load_text(case.read_text(encoding="utf-8"), case.name, report)
    assert source is not None
    shape_ok = shape.shape(source, report) is not None
    errors = list(VALIDATOR.iter_errors(source.data))
    if shape_ok and errors:
        # the schema is stricter on purpose about links ([NODE:IF, NODE:IF]); `check` says TG108 at build time
        assert all(e.absolute_path and e.absolute_path[0] == "links" for e in errors), [e.message for e in errors]
    else:
        assert shape_ok == (not errors), [e.message for e in errors]


def test_schema_command_prints_the_schema() -> None:
    result = CliRunner().invoke(main, ["schema"])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == schema()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(TOPOLOGY, wired_topologies(), st.dictionaries(st.sampled_from(KEYS), DATA, max_size=6)))
def test_schema_and_shape_check_agree_on_random_documents(data: dict[str, object]) -> None:
    report = Report()
    source = load_text(dump(data), "r.yml", report)
    if source is None or report.has_errors or _integral_float(source.data):
        # JSON Schema's "integer" includes 1500.0, which `check` rejects as a float: the one known difference
        return
    shape_ok = shape.shape(source, Report()) is not None
    errors = [e for e in VALIDATOR.iter_errors(source.data)
              if not (e.absolute_path and e.absolute_path[0] == "links")]  # link shape: TG108, checked later
    if shape_ok:
        assert errors == [], [e.message for e in errors]
    else:
        assert list(VALIDATOR.iter_errors(source.data)), "the schema accepts what check rejects"


def _integral_float(data: object) -> bool:
    if isinstance(data, float):
        return data.is_integer()
    if isinstance(data, dict):
        return any(_integral_float(v) for v in data.values())
    if isinstance(data, list):
        return any(_integral_float(v) for v in data)
    return False
