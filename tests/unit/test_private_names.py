"""No module of the service reaches into another's private names (`from x import _name`,
`module._name`): what a module shares, it names publicly."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("dealsvc", "workers")


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _target(module: str, path: Path, node: ast.ImportFrom) -> str:
    """The absolute name of what `node` imports from, in `module`."""
    if not node.level:
        return node.module or ""
    base = module.split(".")
    if path.name != "__init__.py":
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def private_uses(modules: dict[str, Path], root: Path = ROOT) -> list[str]:
    """Every use of another module's private name, as "path:line: module._name"."""
    uses = []
    ours = {name.split(".")[0] for name in modules}
    for module, path in sorted(modules.items()):
        tree = ast.parse(path.read_text(), str(path))
        bound: dict[str, str] = {}  # local name -> a module of ours it stands for
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                source = _target(module, path, node)
                for alias in node.names:
                    if f"{source}.{alias.name}" in modules:
                        bound[alias.asname or alias.name] = f"{source}.{alias.name}"
                    elif _private(alias.name) and source != module and source.split(".")[0] in ours:
                        # (Third parties' internals, such as the firebase-admin pieces the curl
                        # transport reuses, are pinned and tested where they are used.)
                        uses.append(f"{path.relative_to(root)}:{node.lineno}: {source}.{alias.name}")
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in modules:
                        bound[alias.asname or alias.name.split(".")[0]] = alias.name if alias.asname else alias.name.split(".")[0]
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in bound
                    and _private(node.attr) and bound[node.value.id] != module):
                uses.append(f"{path.relative_to(root)}:{node.lineno}: {bound[node.value.id]}.{node.attr}")
    return uses


def test_no_module_uses_another_modules_private_names():
    modules = _modules()
    assert "dealsvc.web.demo" in modules and "workers" in {m.split(".")[0] for m in modules}
    assert private_uses(modules) == []


def test_the_check_sees_both_ways_of_reaching_in(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "a.py").write_text("def _hidden(): pass\ndef shown(): pass\n")
    (tmp_path / "pkg" / "b.py").write_text("from .a import _hidden, shown\n")
    (tmp_path / "pkg" / "c.py").write_text("from . import a\nfrom pkg import a as other\na.shown()\na._hidden()\nother._hidden()\n")
    modules = {"pkg": tmp_path / "pkg" / "__init__.py", **{f"pkg.{n}": tmp_path / "pkg" / f"{n}.py" for n in "abc"}}
    assert private_uses(modules, tmp_path) == ["pkg/b.py:1: pkg.a._hidden", "pkg/c.py:4: pkg.a._hidden", "pkg/c.py:5: pkg.a._hidden"]
