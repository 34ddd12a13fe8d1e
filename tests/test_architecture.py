"""The shape of the code: short modules and classes, no import cycle, no private reach-ins."""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "gaussmix"
FILES = sorted(p for p in SRC.rglob("*.py") if "__pycache__" not in p.parts)


def module_name(path):
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in FILES}


def is_package(name):
    return MODULES[name].name == "__init__.py"


def imports_of(name):
    """The gaussmix modules that module ``name`` imports, at any depth of its code."""
    tree = ast.parse(MODULES[name].read_text())
    package = name if is_package(name) else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "gaussmix")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
            elif node.module and node.module.split(".")[0] == "gaussmix":
                target = node.module
            else:
                continue
            for alias in node.names:
                if f"{target}.{alias.name}" in MODULES:  # ``from . import module``
                    found.add(f"{target}.{alias.name}")
                else:  # a name that ``target`` must have defined by now
                    found.add(target)
    return {m for m in found if m in MODULES and m != name}


def test_every_module_is_short():
    long = {str(p.relative_to(SRC)): n for p in FILES if (n := len(p.read_text().splitlines())) > 400}
    assert not long, f"modules over 400 lines: {long}"


def test_every_class_is_short():
    long = {}
    for path in FILES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and node.end_lineno - node.lineno + 1 > 300:
                long[f"{path.relative_to(SRC)}:{node.name}"] = node.end_lineno - node.lineno + 1
    assert not long, f"classes over 300 lines: {long}"


def test_there_is_no_import_cycle():
    graph = {name: imports_of(name) for name in MODULES}
    state, stack, cycles = {}, [], []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_the_cycle_check_sees_function_level_imports():
    # The check above would pass vacuously if it missed imports inside
    # functions, or names imported from a package's __init__.
    assert "gaussmix.hc" in imports_of("gaussmix.init")  # inside initial_resp
    assert "gaussmix.engine.kernels.rows" in imports_of("gaussmix.engine.kernels")
    assert "gaussmix.backends" in imports_of("gaussmix.estimators.data")


#: scikit-learn's conventions spell these with an underscore; subclasses extend them.
SKLEARN_CONVENTIONS = {"_parameter_constraints"}


def private_uses(path):
    """``from m import _name`` and ``obj._name`` where obj is not self, cls or super()."""
    uses = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            uses += [f"import {a.name}" for a in node.names
                     if a.name.startswith("_") and not a.name.startswith("__")]
        elif (isinstance(node, ast.Attribute) and node.attr.startswith("_")
              and not node.attr.startswith("__") and node.attr not in SKLEARN_CONVENTIONS):
            owner = node.value
            if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
                continue
            if isinstance(owner, ast.Call) and getattr(owner.func, "id", None) == "super":
                continue
            uses.append(f"{ast.unparse(owner)}.{node.attr}")
    return uses


#: Private names of other libraries that gaussmix reads on purpose.
ALLOWED = {
    "gaussmix/engine/threads.py": {"_pool._max_workers"},  # our own pool's size
}


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(SRC)))
def test_no_module_uses_another_modules_private_names(path):
    rel = f"gaussmix/{path.relative_to(SRC)}"
    found = set(private_uses(path)) - ALLOWED.get(rel, set())
    assert not found, f"{rel} reaches into private names: {sorted(found)}"
