"""The SQL models in `sql/`: discovery, dependency order and rendering for one warehouse.

A model is one `.sql` file holding one `select`. Files use five dbt-style macros, so the same
text serves every warehouse:

- `{{ source('orders') }}`: a loaded table. When the table or some of its contract columns do
  not exist yet, a typed empty stand-in (or the missing columns as typed nulls) is used, so
  views are valid on an empty dataset without creating tables behind the loader's back.
- `{{ ref('stg_lune__orders') }}`: another model, a seed table or a table `transforms` builds;
  the reference also fixes the build order.
- `{{ var('customer_metadata_key') }}`: a build setting (validated before use).
- `{{ days_between('start', 'end') }}`: whole days between two timestamps / dates, the one
  date function with no spelling shared by DuckDB, PostgreSQL, BigQuery and Snowflake.
- `{{ distinct_list('column') }}`: an aggregate, the group's distinct non-null values sorted
  and joined with '; ' (null when there are none). `string_agg(distinct … order by …)`
  everywhere but DuckDB, where its list functions do the same about twice as fast (the
  ordered distinct aggregates took `certificate_register` over a second at 100,000 orders).

DuckDB and PostgreSQL run the rendered SQL as written (it sticks to their common subset).
Other warehouses get it transpiled from the PostgreSQL spelling by sqlglot.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .contract import CONTRACT, sql_type

SQL_ROOT = Path(__file__).resolve().parent.parent / "sql"
LAYERS = ("staging", "intermediate", "reporting")
NATIVE_DIALECTS = ("duckdb", "postgres")
# tables `transforms` creates itself; models may ref them
SEED_NAMES = ("project_type_mechanisms", "eu_member_states")
BUILT_TABLES = (*(f"seed_{s}" for s in SEED_NAMES), "int_lune__bundle_projects")

_MACRO = re.compile(r"\{\{\s*(\w+)\s*\((.*?)\)\s*\}\}", re.DOTALL)
_PLACEHOLDER = re.compile(r"__lune_rel__(\w+)")
_SENTINEL_DAYS = "lune_days_between"


class ModelError(Exception):
    """A model file is malformed (unknown macro, unknown reference, dependency cycle)."""


@dataclass(frozen=True)
class Model:
    name: str
    layer: str
    path: Path
    text: str
    refs: tuple[str, ...] = field(default=())

    @property
    def header(self) -> str:
        """The leading comment block (grain and purpose)."""
        lines = []
        for line in self.text.splitlines():
            if not line.startswith("--"):
                break
            lines.append(line[2:].strip())
        return "\n".join(lines)


def normalize_dialect(name: str) -> str:
    """dlt destination or sqlglot dialect name → the dialect the SQL is rendered for."""
    name = name.lower()
    if name in ("duckdb", "motherduck", "ducklake"):
        return "duckdb"
    if name in ("postgres", "postgresql"):
        return "postgres"
    return name


def _macro_args(raw: str, where: str) -> list[str]:
    try:
        value = ast.literal_eval(f"({raw},)")
    except (SyntaxError, ValueError) as e:
        raise ModelError(f"{where}: macro arguments must be string literals: {raw!r}") from e
    if not all(isinstance(v, str) for v in value):
        raise ModelError(f"{where}: macro arguments must be string literals: {raw!r}")
    return list(value)


def load_models(root: Path = SQL_ROOT) -> list[Model]:
    """All models under `root`, in an order where every model follows what it refs."""
    found: dict[str, Model] = {}
    for layer in LAYERS:
        for path in sorted((root / layer).glob("*.sql")):
            text = path.read_text()
            refs = tuple(
                _macro_args(m.group(2), path.name)[0]
                for m in _MACRO.finditer(text)
                if m.group(1) == "ref"
            )
            if path.stem in found:
                raise ModelError(f"model {path.stem} is defined twice")
            found[path.stem] = Model(path.stem, layer, path, text, refs)
    for model in found.values():
        for ref in model.refs:
            if ref not in found and ref not in BUILT_TABLES:
                raise ModelError(f"{model.path.name}: ref({ref!r}) names no model or seed")
    ordered: list[Model] = []
    state: dict[str, str] = {}

    def visit(name: str, chain: tuple[str, ...]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            raise ModelError(f"dependency cycle: {' -> '.join((*chain, name))}")
        state[name] = "visiting"
        for ref in found[name].refs:
            if ref in found:
                visit(ref, (*chain, name))
        state[name] = "done"
        ordered.append(found[name])

    # layer first, then name: a stable order that readers of the build log can follow
    for model in sorted(found.values(), key=lambda m: (LAYERS.index(m.layer), m.name)):
        visit(model.name, ())
    return ordered


def _source_sql(table: str, existing: Mapping[str, set[str]], dialect: str) -> str:
    if table not in CONTRACT:
        raise ModelError(f"source({table!r}) is not a loaded table of the contract")
    columns = CONTRACT[table]
    have = existing.get(table)
    if have is not None and set(columns) <= have:
        return f"__lune_rel__{table}"
    # a table or column the loader has not created yet: typed nulls keep the view valid
    select = ",\n        ".join(
        c if have is not None and c in have else f"cast(null as {sql_type(t, dialect)}) as {c}"
        for c, t in columns.items()
    )
    if have is None:
        return f"(\n    select\n        {select}\n    where 1 = 0\n) as {table}"
    return f"(\n    select\n        {select}\n    from __lune_rel__{table}\n) as {table}"


def render(
    model: Model,
    *,
    dialect: str,
    qualify: Callable[[str], str],
    existing: Mapping[str, set[str]],
    variables: Mapping[str, str],
    strict: bool = False,
) -> str:
    """The model's `select` for `dialect`, with every macro resolved.

    `qualify(name)` gives the fully qualified relation name in the target dataset;
    `existing` maps each loaded table that exists to its (lower-case) column names;
    `strict` makes transpiling fail on anything sqlglot cannot carry over.
    """
    dialect = normalize_dialect(dialect)
    native = dialect in NATIVE_DIALECTS

    def expand(match: re.Match[str]) -> str:
        macro, args = match.group(1), _macro_args(match.group(2), model.path.name)
        if macro == "source" and len(args) == 1:
            return _source_sql(args[0], existing, dialect)
        if macro == "ref" and len(args) == 1:
            return f"__lune_rel__{args[0]}"
        if macro == "var" and len(args) == 1:
            if args[0] not in variables:
                raise ModelError(f"{model.path.name}: var({args[0]!r}) is not set")
            return variables[args[0]]
        if macro == "days_between" and len(args) == 2:
            start, end = args
            if native:
                return f"(cast({end} as date) - cast({start} as date))"
            return f"{_SENTINEL_DAYS}({start}, {end})"
        if macro == "distinct_list" and len(args) == 1:
            (column,) = args
            if dialect == "duckdb":
                return (
                    f"(case when count({column}) = 0 then null else array_to_string("
                    f"list_sort(list_distinct(list({column}))), '; ') end)"
                )
            return f"string_agg(distinct {column}, '; ' order by {column})"
        raise ModelError(f"{model.path.name}: unknown macro {match.group(0)!r}")

    sql = _MACRO.sub(expand, model.text)
    if not native:
        sql = transpile(sql, dialect, strict=strict)
    return _PLACEHOLDER.sub(lambda m: qualify(m.group(1)), sql)


def transpile(sql: str, dialect: str, *, strict: bool = False) -> str:
    """PostgreSQL-spelled `sql` → `dialect` with sqlglot (for warehouses other than the two
    the SQL is written for). `strict` raises on anything sqlglot cannot carry over."""
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import ErrorLevel

    null_ordering = sqlglot.Dialect.get_or_raise(dialect).NULL_ORDERING

    def adapt(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Anonymous) and node.name.lower() == _SENTINEL_DAYS:
            start, end = node.expressions
            return exp.DateDiff(
                this=exp.cast(end, "date"), expression=exp.cast(start, "date"), unit=exp.var("DAY")
            )
        if isinstance(node, exp.Ordered):
            # Every ORDER BY key in the models is non-null (months, tonnes, labels, and
            # string_agg skips nulls), so where nulls sort cannot matter: take the target's
            # default rather than spell PostgreSQL's, which BigQuery cannot in aggregates.
            desc = bool(node.args.get("desc"))
            node.set(
                "nulls_first",
                (null_ordering == "nulls_are_small" and not desc)
                or (null_ordering == "nulls_are_large" and desc),
            )
        return node

    tree = sqlglot.parse_one(sql, read="postgres").transform(adapt)
    level = ErrorLevel.RAISE if strict else ErrorLevel.WARN
    return tree.sql(dialect=dialect, unsupported_level=level, pretty=True)
