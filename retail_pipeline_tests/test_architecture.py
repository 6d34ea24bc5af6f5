"""The layers of the package (DESIGN.md section 6) hold: imports point down only, app -> defs -> adapters ->
core (``settings`` sits between core and adapters), counting imports inside functions too; no import cycle;
``core`` imports neither dagster, nor anything above it, nor a module that does IO; ``__init__.py`` files import nothing; and every asset
lives in ``defs/<group>/<name>.py``, so a newcomer finds it by its group and name."""

from __future__ import annotations

import ast
import re
import warnings
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "retail_pipeline"
# Higher may import lower or equal, never the other way. The code location's entry (definitions.py) is
# imported by nothing in the package.
RANKS = {"core": 0, "settings": 1, "adapters": 2, "defs": 3, "app": 4, "definitions": 5}
DAGSTER_PACKAGES = ("dagster", "dagster_duckdb", "dagster_postgres", "dagster_webserver", "dagster_dg_cli")
# What would let core touch files, the network, the environment or a store: core takes frames and bytes.
IO_MODULES = ("os", "pathlib", "importlib", "shutil", "subprocess", "socket", "httpx", "deltalake", "duckdb", "sqlalchemy")


def modules(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package under ``root``."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imports(path: Path, known: set[str], package: str) -> set[str]:
    """The package's modules that ``path`` imports anywhere in it (functions included). ``from pkg import
    module`` is an edge to that module, not to ``pkg/__init__``."""
    edges = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            edges |= {alias.name for alias in node.names if alias.name.split(".")[0] == package}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == package:
            submodules = {f"{node.module}.{alias.name}" for alias in node.names} & known
            edges |= submodules or {node.module}
    return {edge for edge in edges if edge in known}


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "package"


def third_party(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def violations(root: Path) -> list[str]:
    """Every broken rule of the layout under ``root`` (a package directory), one line each."""
    package = root.name
    found = modules(root)
    graph = {name: imports(path, set(found), package) for name, path in found.items()}
    problems = []
    for name, targets in sorted(graph.items()):
        source = layer(name)
        if source not in RANKS and name != package:
            problems.append(f"{name}: not in a layer ({', '.join(RANKS)})")
            continue
        for target in sorted(targets):
            if name == package or layer(target) not in RANKS:
                continue
            if RANKS[layer(target)] > RANKS.get(source, -1):
                problems.append(f"{name} imports {target}: {source} may not import {layer(target)}")
        if found[name].name == "__init__.py" and third_party(found[name]) | targets:
            problems.append(f"{name}/__init__.py imports something")
        if source == "core" and third_party(found[name]) & set(DAGSTER_PACKAGES):
            problems.append(f"{name}: core imports dagster")
        if source == "core" and third_party(found[name]) & set(IO_MODULES):
            problems.append(f"{name}: core does IO ({', '.join(sorted(third_party(found[name]) & set(IO_MODULES)))})")
    problems += [f"import cycle: {' -> '.join(cycle)}" for cycle in cycles(graph)]
    return problems


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each module that is on a cycle (depth-first search)."""
    found, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                found.append(stack[stack.index(target):] + [target])
            elif target not in state:
                visit(target, stack)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    return found


def test_the_package_keeps_its_layers():
    assert violations(PACKAGE) == []


def test_the_rules_catch_a_broken_layout(tmp_path):
    """The checker itself: a package whose core reaches up, imports dagster, and closes a cycle inside a
    function, with an ``__init__`` that imports, is reported on every count."""
    root = tmp_path / "pkg"
    for folder in ("core", "adapters", "app"):
        (root / folder).mkdir(parents=True)
        (root / folder / "__init__.py").write_text("")
    (root / "__init__.py").write_text("")
    (root / "core" / "__init__.py").write_text("from pkg.core import pure\n")
    (root / "core" / "pure.py").write_text("import dagster as dg\nfrom pathlib import Path\n\ndef f():\n    from pkg.app import cli\n")
    (root / "adapters" / "io.py").write_text("from pkg.core import pure\n")
    (root / "app" / "cli.py").write_text("from pkg.adapters.io import x\nfrom pkg.core.pure import f\n")
    (root / "app" / "loop.py").write_text("def g():\n    from pkg.core import pure\n")
    found = violations(root)
    assert "pkg.core.pure imports pkg.app.cli: core may not import app" in found
    assert "pkg.core.pure: core imports dagster" in found
    assert "pkg.core.pure: core does IO (pathlib)" in found
    assert "pkg.core/__init__.py imports something" in found
    assert any(line.startswith("import cycle:") and "pkg.app.cli" in line and "pkg.core.pure" in line for line in found)
    assert not any("pkg.app.loop" in line for line in found)  # downward imports are fine


def test_every_asset_lives_in_the_module_named_for_its_group_and_key():
    """Each asset is defined in ``defs/<group>/<name>.py``; a multi-asset's module is named for one of its
    outputs (``silver/quarantine`` is in ``defs/silver/transactions.py``). Checks are defined beside them."""
    import importlib

    import dagster as dg

    import retail_pipeline.defs.definitions as definitions
    from retail_pipeline.settings import Settings

    owner: dict[str, str] = {}
    for module in sorted(m for m in modules(PACKAGE) if m.count(".") == 3 and m.startswith("retail_pipeline.defs.")):
        for obj in vars(importlib.import_module(module)).values():
            if isinstance(obj, dg.AssetsDefinition) and not isinstance(obj, dg.AssetChecksDefinition):
                defined_in = obj.node_def.compute_fn.decorated_fn.__module__ if obj.is_executable else module
                for key in obj.keys:
                    owner.setdefault(key.to_user_string(), defined_in)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # Postgres configured: every asset of the package is loaded (serving/postgres_marts only is then).
        defs = definitions.build_definitions(Settings(postgres_variables=("RETAIL_POSTGRES_URL",)))
    specs = {spec.key.to_user_string(): spec for spec in defs.resolve_all_asset_specs()}
    assert set(owner) == set(specs), "an asset is defined outside defs/<group>/ or not loaded"
    by_module: dict[str, list[str]] = {}
    for key, module in owner.items():
        assert module.startswith(f"retail_pipeline.defs.{specs[key].group_name}."), f"{key} is defined in {module}"
        by_module.setdefault(module, []).append(key.split("/")[-1])
    for module, names in by_module.items():
        assert module.rsplit(".", 1)[1] in names, f"{module} is not named for any of its assets {names}"
    for check in defs.asset_checks:
        for spec in check.check_specs:
            module = check.node_def.compute_fn.decorated_fn.__module__
            assert module == owner[spec.asset_key.to_user_string()] or module == "retail_pipeline.defs.checks", (
                f"check {spec.name} of {spec.asset_key.to_user_string()} is defined in {module}"
            )


@pytest.mark.parametrize("module", sorted(modules(PACKAGE)))
def test_every_module_says_what_it_is(module):
    """A newcomer reads the first line of a module to know what lives there."""
    assert ast.get_docstring(ast.parse(modules(PACKAGE)[module].read_text())), f"{module} has no docstring"


def test_only_settings_reads_the_environment():
    """Every RETAIL_* variable is read in settings.py; core, adapters and defs read no environment at all (the
    runner sets Dagster's own DAGSTER_* variables for the CLI's instance)."""
    readers = []
    for name, path in modules(PACKAGE).items():
        if name == "retail_pipeline.settings":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv") and ast.unparse(node.value) == "os":
                if layer(name) != "app":
                    readers.append(f"{name}:{node.lineno} reads the environment")
            read = None
            if isinstance(node, ast.Call) and ast.unparse(node.func) in ("os.environ.get", "os.getenv", "os.environ.setdefault"):
                read = node.args[0] if node.args else None
            elif isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ":
                read = node.slice
            if isinstance(read, ast.Constant) and str(read.value).startswith("RETAIL_"):
                readers.append(f"{name}:{node.lineno} reads {read.value}")
    assert readers == []


def test_nothing_sets_polars_options_at_run_time():
    """``pl.Config`` writes the process environment; beside native threads reading it, that crashed a test
    worker (SIGSEGV). Previews and CLI tables are formatted in Python instead."""
    users = [name for name, path in modules(PACKAGE).items() if re.search(r"\bpl\.Config\(|polars\.Config\(", path.read_text())]
    assert users == []


def test_a_run_imports_no_http_stack_it_does_not_use():
    """The CLI's import floor is paid by every run: the runner and the definitions, even once built, do not
    import httpx (only a configured API or the alert webhook calls out), nor a plotting library."""
    import subprocess
    import sys

    probe = (
        "import sys, retail_pipeline.app.runner as r; r.build_definitions(); "
        "print(sorted(m for m in ('matplotlib', 'httpx') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
