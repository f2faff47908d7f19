"""The product imports only what pyproject.toml declares: every third-party module imported by
`pipelines`, `sources`, `transforms`, `reports` and `lune_sandbox` belongs to a core
dependency, and the Airflow DAG alone may also use the `airflow` extra. A module that arrives
only through another package (orjson through dlt, once) breaks when that package stops
bringing it."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PRODUCT = ("pipelines", "sources", "transforms", "reports", "lune_sandbox")
AIRFLOW_ONLY = {REPO / "pipelines" / "airflow_dag.py"}
# modules of distributions that are not installed in this environment
NOT_INSTALLED_HERE = {"airflow": "apache-airflow"}
# known and reported: remove the entry when the import goes (the test says so)
KNOWN_UNDECLARED: set[tuple[str, str]] = set()


def _name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
    assert match, requirement
    return re.sub(r"[-_.]+", "-", match.group(0)).lower()


def _declared() -> tuple[set[str], set[str]]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    core = {_name(r) for r in project["dependencies"]}
    airflow = {_name(r) for r in project["optional-dependencies"]["airflow"]}
    return core, airflow


def _imports(path: Path) -> set[str]:
    """Top-level modules a file imports (absolute imports, anywhere in the file)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names) - set(PRODUCT) - {"__future__"}


def _distributions(module: str) -> set[str]:
    if module in NOT_INSTALLED_HERE:
        return {NOT_INSTALLED_HERE[module]}
    return {_name(d) for d in packages_distributions().get(module, [])}


def test_the_product_imports_only_declared_dependencies():
    core, airflow = _declared()
    undeclared = set()
    for package in PRODUCT:
        for path in sorted((REPO / package).rglob("*.py")):
            allowed = core | airflow if path in AIRFLOW_ONLY else core
            for module in _imports(path):
                distributions = _distributions(module)
                assert distributions, f"{path}: no installed distribution provides {module!r}"
                if not distributions & allowed:
                    undeclared.add((str(path.relative_to(REPO)), module))
    assert undeclared == KNOWN_UNDECLARED, (
        "imports of undeclared packages (declare them in pyproject.toml, or update "
        f"KNOWN_UNDECLARED when one is gone): {sorted(undeclared ^ KNOWN_UNDECLARED)}"
    )


def test_only_the_dag_needs_the_airflow_extra():
    core, airflow = _declared()
    assert {"apache-airflow", "pendulum"} <= airflow
    assert "pendulum" not in core
    users = {
        str(path.relative_to(REPO))
        for package in PRODUCT
        for path in (REPO / package).rglob("*.py")
        if _imports(path) & {"airflow", "pendulum"}
    }
    assert users == {"pipelines/airflow_dag.py"}
