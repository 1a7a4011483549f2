"""The shortcuts taken for big labs give exactly what the general code gives, on any input."""

from __future__ import annotations

import ipaddress
from typing import Any

import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from topograph.front.addresses import _ip_interface, _is_network_or_broadcast
from topograph.front.diagnostics import Report
from topograph.front.loader import load_text

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_WORDS = ["yes", "No", "ON", "off", "true", "False", "y", "n", "~", "null", "Null", "", "0", "00", "007", "0x1F",
          "0o17", "0b101", "1_000", "+5", "-0", "-12", "3.5", ".inf", "-.INF", ".nan", "1e3", "12:30", "2024-01-01",
          "52:54:00:12:34:56", "'7'", '"yes"', "9" * 5000, "\u0663", "10.0.0.1/24", "eth0"]
scalar_text = st.one_of(st.sampled_from(_WORDS), st.integers(-10**30, 10**30).map(str), st.text("0123456789", min_size=1),
                        st.text(alphabet="0123456789_.:+-xobeEaAfFyYnNsSlLuU~ ", max_size=8))


def _reference(text: str) -> Any:
    """What the walker made of one scalar before the shortcuts: PyYAML's pure-Python safe loader
    composing it, construct_object reading it, and text kept for dates and base-60 numbers."""
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        if not isinstance(root, yaml.MappingNode):
            raise yaml.YAMLError("not a mapping")  # e.g. the value made the line a list item
        node = root.value[0][1]
        if node.tag == "tag:yaml.org,2002:timestamp" or (
                node.tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float") and ":" in node.value):
            return node.value
        try:
            return loader.construct_object(node, deep=True)
        except ValueError:
            return node.value
    finally:
        loader.dispose()


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and a != a:
        return b != b  # nan
    return type(a) is type(b) and a == b


@FAST
@given(scalar_text)
@example("9" * 5000)
@example("yes")
@example("010")
def test_scalar_values_read_as_pyyaml_reads_them(value: str) -> None:
    text = f"v: {value}\n"
    try:
        expected = _reference(text)
    except yaml.YAMLError:
        return  # not a plain scalar at all (e.g. '- x'); the loader's error path is unchanged
    source = load_text(text, "t.yml", Report())
    assert source is not None
    assert _same(source.data["v"], expected), (value, source.data["v"], expected)


@FAST
@given(scalar_text)
def test_keys_read_as_pyyaml_reads_them(value: str) -> None:
    text = f"{value}: 1\n"
    try:
        loader = yaml.SafeLoader(text)
        root = loader.get_single_node()
        if not isinstance(root, yaml.MappingNode):
            return
        node = root.value[0][0]
        key = loader.construct_object(node)
    except (yaml.YAMLError, ValueError, TypeError, AttributeError, IndexError):
        return
    expected = node.value if key is None or isinstance(key, bool) else str(key)
    report = Report()
    source = load_text(text, "t.yml", report)
    if source is not None and not report.has_errors:
        assert list(source.data) == [expected]


_OCTETS = st.one_of(st.integers(0, 300).map(str), st.sampled_from(["00", "01", "010", "0x1", "\u0661", " 1", "1 ", ""]))
_PREFIXES = st.one_of(st.integers(-1, 40).map(str), st.sampled_from(["016", "08", "", "255.255.0.0", "x", "\u0663"]))


@FAST
@given(st.lists(_OCTETS, min_size=3, max_size=5), _PREFIXES, st.sampled_from(["/", "//", ""]))
@example(["10", "0", "0", "2"], "16", "/")
@example(["255", "255", "255", "255"], "32", "/")
@example(["0", "0", "0", "0"], "0", "/")
def test_ipv4_cidr_shortcut_matches_ipaddress(octets: list[str], prefix: str, slash: str) -> None:
    text = ".".join(octets) + slash + prefix
    try:
        expected = ipaddress.ip_interface(text)
    except ValueError as exc:
        try:
            _ip_interface(text)
        except ValueError as refused:
            assert str(refused) == str(exc)
        else:
            raise AssertionError(f"{text!r} accepted by the shortcut, refused by ipaddress")
        return
    got = _ip_interface(text)
    assert type(got) is type(expected)
    assert (got, got.network, got.with_prefixlen) == (expected, expected.network, expected.with_prefixlen)


@FAST
@given(st.text(max_size=45))
def test_any_text_as_an_address_matches_ipaddress(text: str) -> None:
    try:
        expected: object = ipaddress.ip_interface(text)
    except ValueError as exc:
        expected = str(exc)
    try:
        got: object = _ip_interface(text)
    except ValueError as refused:
        got = str(refused)
    assert got == expected


@given(st.integers(0, 2**32 - 1), st.integers(0, 30))
@example(0x0A000000, 8)
@example(0x0AFFFFFF, 8)
@example(0xC0A80F00, 24)
@FAST
def test_network_or_broadcast_by_arithmetic(ip: int, prefixlen: int) -> None:
    net = ipaddress.IPv4Network((ip, prefixlen), strict=False)
    address = ipaddress.IPv4Address(ip)
    assert _is_network_or_broadcast(ip, prefixlen) == (address in (net.network_address, net.broadcast_address))
