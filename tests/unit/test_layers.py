"""The package's layers: front -> sim | names -> plan -> compile | live | render -> review -> cli (and api), never back up.

Every `import` in the package (lazy ones inside functions included) is read with ast; a module may import
from its own layer or the layers it builds on, never from one above it, so the folder tree reads as the
pipeline does and nothing low depends on the command line.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGE = ROOT / "topograph"

#: each layer and the layers it may import from (its own included)
ALLOWED: dict[str, set[str]] = {
    "front": {"front"},  # topograph.front.* and topograph.model: the file, its checks, and the model they make
    "sim": {"front", "sim"},
    # topograph.placement and topograph.kernel_names: where each node lives and what its kernel objects are called,
    # what the plan and the live commands share (verify needs them, not the plan's operations)
    "names": {"front", "names"},
    "plan": {"front", "names", "plan"},
    "compile": {"front", "names", "plan", "compile"},
    "render": {"front", "sim", "render"},
    "live": {"front", "sim", "names", "plan", "live"},
    "scan": {"front", "names", "plan", "live", "scan"},  # namespaces that exist -> a topology document (reads through live)
    "review": {"front", "sim", "render", "compile", "pipeline", "review"},  # compile: where the templates are
    "pipeline": {"front", "sim", "names", "plan", "pipeline"},
    "cli": {"front", "sim", "names", "plan", "compile", "render", "live", "scan", "review", "pipeline", "cli", "top"},
    # the Python API (topograph.api, topograph.generators, topograph.pytest_plugin): beside the cli, never under it
    "api": {"front", "sim", "names", "plan", "compile", "render", "live", "pipeline", "api", "top"},
    "top": {"top", "api"},  # topograph/__init__.py (the API's names, lazily), __main__.py
}


def layer(module: str) -> str:
    """The layer of a dotted module name inside the package."""
    parts = module.split(".")
    if parts[0] != "topograph":
        raise ValueError(module)
    if len(parts) == 1:
        return "top"
    head = parts[1]
    if head in ("front", "model"):
        return "front"
    if head in ("placement", "kernel_names"):
        return "names"
    if head in ("sim", "plan", "render", "live", "scan", "review", "cli", "compile", "pipeline"):
        return head
    if head in ("api", "generators", "pytest_plugin"):
        return "api"
    if head == "__main__":  # `python -m topograph`: the command line
        return "cli"
    if head == "__init__":
        return "top"
    raise ValueError(f"{module}: no layer; add it to tests/unit/test_layers.py")


def modules() -> list[tuple[str, Path]]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out.append((".".join(parts), path))
    return out


def imported(path: Path, module: str) -> list[tuple[int, str]]:
    """(line, dotted module) of every import of the package's own modules in `path`."""
    found: list[tuple[int, str]] = []
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "topograph"]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the importing package
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base]) if base else ".".join(anchor)
            if base.split(".")[0] != "topograph":
                continue
            for a in node.names:  # `from topograph import front` imports the subpackage
                sub = f"{base}.{a.name}"
                found.append((node.lineno, sub if base == "topograph" and a.name != "__version__" else base))
    return found


@pytest.mark.parametrize(("module", "path"), modules(), ids=[m for m, _ in modules()])
def test_no_module_imports_from_a_layer_above_its_own(module: str, path: Path) -> None:
    mine = layer(module)
    wrong = [f"{path.relative_to(ROOT)}:{line}: {mine} imports {target} ({layer(target)})"
             for line, target in imported(path, module) if layer(target) not in ALLOWED[mine]]
    assert not wrong, "\n".join(wrong)


def _imports_click(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text())):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [node.module or ""] if isinstance(node, ast.ImportFrom) else []
        if any(n.split(".")[0] == "click" for n in names):
            return True
    return False


def test_click_is_only_in_the_cli() -> None:
    assert [str(p.relative_to(ROOT)) for m, p in modules() if layer(m) != "cli" and _imports_click(p)] == []
