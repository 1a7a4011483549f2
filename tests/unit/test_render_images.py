"""Every sample drawn by graphviz as SVG and PNG: valid images that name every node and address."""

from __future__ import annotations

import shutil
import struct
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from benchmarks.labs import star
from tests.conftest import ROOT, SAMPLES
from topograph.cli import main
from topograph.pipeline import check_file

pytestmark = pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz 'dot' is not installed")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SVG = "{http://www.w3.org/2000/svg}"


def render(sample: Path, out: Path) -> None:
    result = CliRunner().invoke(main, ["render", str(sample), "-o", str(out)])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("sample", SAMPLES, ids=[s.stem for s in SAMPLES])
def test_svg_is_xml_naming_every_node_and_address(sample: Path, tmp_path: Path) -> None:
    out = tmp_path / "lab.svg"
    render(sample, out)
    root = ET.parse(out).getroot()
    assert root.tag == f"{SVG}svg"
    text = "\n".join("".join(t.itertext()) for t in root.iter(f"{SVG}text")).replace("\xa0", " ")
    topology = check_file(sample).topology
    assert topology is not None
    for node in topology.nodes:
        assert node.name in text.split(), node.name
        for a in node.addresses:
            assert str(a) in text, f"{node.name}: {a}"


@pytest.mark.parametrize("sample", SAMPLES, ids=[s.stem for s in SAMPLES])
def test_png_is_a_png_of_a_readable_size(sample: Path, tmp_path: Path) -> None:
    out = tmp_path / "lab.png"
    render(sample, out)
    data = out.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert 400 <= width <= 8000 and 150 <= height <= 8000, (width, height)


def test_gridded_star_svg_names_every_namespace_address_and_port(tmp_path: Path) -> None:
    lab = tmp_path / "star.yml"
    lab.write_text(star(40))
    out = tmp_path / "star.svg"
    render(lab, out)
    text = "\n".join("".join(t.itertext()) for t in ET.parse(out).getroot().iter(f"{SVG}text")).replace("\xa0", " ")
    assert "40 namespaces on bridge br0 of host" in text
    for i in range(40):
        assert f"ns{i}" in text.split()
        assert f"10.0.0.{i + 2}/16" in text
        assert f"br0:p{i}" in text


def test_escaped_description_is_drawn_as_written(tmp_path: Path) -> None:
    lab = tmp_path / "odd.yml"
    description = "the host's \"lab\" <with> odd & text"
    lab.write_text(f"lab: odd\ndescription: '{description.replace(chr(39), chr(39) * 2)}'\nnodes:\n"
                   "  a: {interfaces: {e0: 10.9.0.1/24}}\n  b: {interfaces: {e0: 10.9.0.2/24}}\nlinks:\n  - [a:e0, b:e0]\n")
    out = tmp_path / "odd.svg"
    render(lab, out)
    texts = ["".join(t.itertext()) for t in ET.parse(out).getroot().iter(f"{SVG}text")]
    assert description in texts


def test_pdf_is_a_pdf(tmp_path: Path) -> None:
    out = tmp_path / "seed.pdf"
    render(ROOT / "samples" / "06-port-forward.yml", out)
    data = out.read_bytes()
    assert data.startswith(b"%PDF-") and b"%%EOF" in data[-1024:]
