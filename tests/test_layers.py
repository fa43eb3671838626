"""The house keeps its floors: no module imports a floor above its own, and no import circles."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Floors, lowest first (docs/architecture.md draws them): a module may import its own floor
#: and those below. Names are packages or modules under napari_mrisr.
FLOORS = [
    {"napari_mrisr", "napari_mrisr.atomic", "napari_mrisr.progress", "napari_mrisr.transfer", "napari_mrisr.schema_errors"},
    {"napari_mrisr.volume"},
    {"napari_mrisr.dicom"},
    {"napari_mrisr.models"},
    {"napari_mrisr.engine"},
    {"napari_mrisr.zoo"},
    {"napari_mrisr.predict", "napari_mrisr.selfsr"},
    {"napari_mrisr.console"},
    {"napari_mrisr.training"},
    {"napari_mrisr._napari"},
    {"napari_mrisr._widgets"},
    {"napari_mrisr.cli", "napari_mrisr.__main__"},
]


def modules() -> dict[str, Path]:
    found = {}
    for base, package in ((ROOT / "napari_mrisr", "napari_mrisr"), (ROOT / "training", "napari_mrisr.training")):
        for path in base.rglob("*.py"):
            parts = [package, *path.relative_to(base).with_suffix("").parts]
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The package's modules that ``name`` imports (at its top or inside a function)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        elif isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            continue
        out |= {t for t in targets if t in known and t != name}
    return out


def floor(name: str) -> int:
    """The floor of a module: that of the longest floor entry it is, or lies under."""
    best = max(
        (entry for level in FLOORS for entry in level if name == entry or name.startswith(entry + ".")),
        key=len,
    )
    return next(i for i, level in enumerate(FLOORS) if best in level)


def test_no_module_imports_a_floor_above_its_own():
    found = modules()
    climbs = [
        f"{name} (floor {floor(name)}) imports {target} (floor {floor(target)})"
        for name, path in found.items()
        for target in imports(name, path, set(found))
        if floor(target) > floor(name) and not target.startswith(name + ".")
    ]
    assert not climbs, "\n".join(climbs)


def test_no_modules_import_each_other_in_a_circle():
    found = modules()
    graph = {name: imports(name, path, set(found)) for name, path in found.items()}
    # A package's face (its __init__) imports its own modules by design; circles through a
    # face are its modules importing the face, which the floors already allow.
    graph = {n: {t for t in targets if found[t].name != "__init__.py"} for n, targets in graph.items()}
    state: dict[str, int] = {}
    circles = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                circles.append(" -> ".join([*trail[trail.index(target):], target]) if target in trail else target)
            elif target not in state:
                visit(target, [*trail, target])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not circles, "\n".join(circles)


def test_the_core_never_imports_qt_napari_or_the_training_package():
    found = modules()
    core = [n for n in found if floor(n) <= FLOORS.index({"napari_mrisr.predict", "napari_mrisr.selfsr"})]
    bad = []
    for name in core:
        for node in ast.walk(ast.parse(found[name].read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            )
            bad += [f"{name} imports {m}" for m in names if m.split(".")[0] in ("qtpy", "napari", "magicgui", "PyQt5", "PyQt6", "PySide6") or m.startswith("napari_mrisr.training")]
    assert not bad, "\n".join(bad)
