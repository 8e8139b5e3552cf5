"""The package's layers: no module imports a higher layer, no import circles, and docs/architecture.md
lists every module in its layer."""

from __future__ import annotations

import ast
import re

import pytest

from helpers import REPO_ROOT

PACKAGE = REPO_ROOT / "abm"
LAYERS = ("infra", "inputs", "sim", "analysis", "viz", "cli")
ARCHITECTURE = REPO_ROOT / "docs" / "architecture.md"


def module_name(path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> str | None:
    """A module's layer: abm.<layer>...; abm.cli is the command line; abm itself has none."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else None


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports(path, top_level_only: bool = False) -> list[tuple[str, int]]:
    """The abm modules a file imports, with their lines (``from abm.x import y`` counts abm.x.y when
    that is a module); with ``top_level_only``, the imports run when the module is imported."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    if top_level_only:  # also under `if TYPE_CHECKING:` is not run; try/if blocks at the top are
        nodes = [n for n in nodes if not (isinstance(n, ast.If) and "TYPE_CHECKING" in ast.unparse(n.test))]
        nodes = [sub for n in nodes for sub in ast.walk(n) if not isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    found = []
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "abm" and not node.level:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.append((sub if sub in MODULES else node.module, node.lineno))
        elif isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names if a.name.split(".")[0] == "abm"]
    return found


def test_every_module_is_in_a_layer():
    assert [m for m in MODULES if m != "abm" and layer(m) is None] == []


def test_no_module_imports_a_higher_layer():
    upward = [
        f"{MODULES[m].relative_to(REPO_ROOT)}:{line} ({layer(m)}) imports {target} ({layer(target)})"
        for m in MODULES
        if layer(m)
        for target, line in imports(MODULES[m])
        if layer(target) and LAYERS.index(layer(target)) > LAYERS.index(layer(m))
    ]
    assert upward == []


def test_no_import_circles():
    """Among the imports run when a module is imported (lazy imports inside functions break no
    import and are left out), no module reaches itself."""
    graph = {m: {t for t, _ in imports(p, top_level_only=True) if t in MODULES and t != m} for m, p in MODULES.items()}
    state: dict[str, int] = {}
    circles = []

    def visit(node, stack):
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                circles.append(
                    " -> ".join([*stack[stack.index(nxt) :], node, nxt]) if nxt in stack else f"{node} -> {nxt}"
                )
            elif nxt not in state:
                visit(nxt, [*stack, node])
        state[node] = 2

    for module in graph:
        if module not in state:
            visit(module, [])
    assert circles == []


def test_architecture_lists_every_module_in_its_layer():
    text = ARCHITECTURE.read_text()
    listed = {}
    for heading, body in re.findall(r"^### (\w+)\n(.*?)(?=^#|\Z)", text, re.M | re.S):
        for path in re.findall(r"^- `(abm/[\w/]+\.py)`", body, re.M):
            listed[path] = heading
    shipped = {
        str(p.relative_to(REPO_ROOT)): layer(m) for m, p in MODULES.items() if layer(m) and p.name != "__init__.py"
    }
    assert listed == shipped


@pytest.mark.parametrize("bad", ["abm.analysis.replications"])
def test_the_layer_check_can_fail(bad, tmp_path):
    """A lower layer importing a higher one is caught (the check reads the file it is given)."""
    probe = PACKAGE / "sim" / "probe.py"
    probe_module = module_name(probe)
    source = tmp_path / "probe.py"
    source.write_text(f"from {bad} import run\n")
    found = imports(source)
    assert found and LAYERS.index(layer(found[0][0])) > LAYERS.index(layer(probe_module))


def test_figures_are_made_without_pyplot_or_a_backend_switch(tmp_path):
    """Figures are matplotlib ``Figure`` objects: no module imports pyplot or calls ``matplotlib.use``, so that
    importing the package leaves matplotlib's backend (a notebook's, say) alone, and a figure is saved all the same."""
    import subprocess
    import sys

    found = [
        f"{path.relative_to(REPO_ROOT)}:{node.lineno}"
        for path in MODULES.values()
        for node in ast.walk(ast.parse(path.read_text()))
        if (isinstance(node, ast.Call) and ast.unparse(node.func) in ("matplotlib.use", "mpl.use"))
        or (isinstance(node, ast.Import | ast.ImportFrom) and "pyplot" in ast.unparse(node))
    ]
    assert found == []
    script = (
        "import sys, pandas as pd\n"
        "from abm.analysis import cohorts, compare, plots, sensitivity, validation\n"
        "from abm.analysis.fitting import report\n"
        "ts = pd.DataFrame({'run': [0, 0, 1, 1], 'year': [2011, 2012, 2011, 2012],\n"
        "                   'participation_rate': [0.5, 0.6, 0.4, 0.7]})\n"
        "fig = compare.figure([compare.Entry('A', ts, [2011])], 'participation_rate')\n"
        f"plots.save(fig, {str(tmp_path / 'a.png')!r})\n"
        "print('matplotlib.pyplot' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "False"
    assert (tmp_path / "a.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
