"""Imports run one way, down the layers that docs/architecture.md ("Layers") lists."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import parking_hub
import sensors_sim

# From the top. A module imports its own unit (a package of parking_hub, or a top-level module) or a
# unit of a lower layer, never one of its own layer but in the wiring, where the CLI runs the rest.
# Units listed nowhere are the foundation, below every layer: they import only one another.
LAYERS = (
    frozenset({"__main__", "cli", "service", "workers", "demo", "admin", "broker_acl"}),  # the wiring
    frozenset({"api"}),
    frozenset({"interfaces"}),  # the MQTT interface and the registry, described
    frozenset({"ingest", "query"}),
    frozenset({"registry_view"}),
    frozenset({"observe"}),
    frozenset({"store"}),
)
WIRING, FOUNDATION = 0, len(LAYERS)


def modules(package: Path) -> Iterator[tuple[str, Path]]:
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts), path


def imported(module: str, path: Path) -> Iterator[str]:
    """Every module name the file imports, anywhere in it (TYPE_CHECKING and function bodies too)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            name = ".".join(part for part in (base, node.module) if part)
            # `from package import module` names a module, `from module import name` its module:
            # `known` finds which.
            yield from (f"{name}.{alias.name}" for alias in node.names)


def unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def layer(module: str) -> int:
    return next((i for i, units in enumerate(LAYERS) if unit(module) in units), FOUNDATION)


def known(module: str, package_modules: set[str]) -> str | None:
    """The package module an imported name refers to, or None for a name outside the package."""
    while module and module not in package_modules:
        module = module.rpartition(".")[0]
    return module or None


def breaches(root: Path) -> set[tuple[str, str]]:
    found = dict(modules(root))
    names = set(found)
    against = set()
    for importer, path in found.items():
        for name in imported(importer, path):
            target = known(name, names)
            if target is None or unit(target) == unit(importer):
                continue
            above, below = layer(importer), layer(target)
            if below < above or (below == above and above not in (WIRING, FOUNDATION)):
                against.add((importer, target))
    return against


HUB = Path(parking_hub.__file__).parent


def test_imports_run_down_the_layers() -> None:
    assert breaches(HUB) == set()


def test_imports_up_or_across_a_layer_are_found(tmp_path: Path) -> None:
    files = {
        "__init__.py": "",
        "config.py": "from parking_hub.store import keys\n",  # the foundation reaching up
        "store/__init__.py": "",
        "store/keys.py": "import parking_hub.config\n",
        "ingest/__init__.py": "from parking_hub.ingest import topics\n",
        "ingest/topics.py": "from ..store import keys\n",
        "query/__init__.py": "",
        "query/live.py": "from ..ingest.topics import Topics\n",  # across: a sibling of its layer
        "query/index.py": "from parking_hub.query import live\nfrom parking_hub.api import keys\n",
        "api/__init__.py": "",
        "api/keys.py": "from parking_hub.query.index import CityIndex\n",
        "cli.py": "from parking_hub import service\nfrom parking_hub.api import keys\n",
        "service.py": "",
    }
    for name, text in files.items():
        (tmp_path / "parking_hub" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "parking_hub" / name).write_text(text)
    assert breaches(tmp_path / "parking_hub") == {
        ("parking_hub.config", "parking_hub.store.keys"),
        ("parking_hub.query.live", "parking_hub.ingest.topics"),
        ("parking_hub.query.index", "parking_hub.api.keys"),
    }


def test_the_simulator_never_imports_the_hub() -> None:
    """It speaks only the contract, so its encoders and the hub's decoders check each other."""
    root = Path(sensors_sim.__file__).parent
    names = {name for module, path in modules(root) for name in imported(module, path)}
    assert {name for name in names if name.split(".")[0] == "parking_hub"} == set()
