"""The report's queries: the reporting marts, and nothing else.

Every figure of the page is read from a mart of `<dataset>_reporting` (the dbt project's
documented output), never recomputed from raw tables, so the report shows exactly what the
marts disclose. Each mart is read once for every account of the report (the file per
account is split out in Python): a report of every account costs one scan of each view,
not one per account. SQL is plain enough for DuckDB and PostgreSQL alike; `%s` marks a
parameter.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from .errors import ReportError
from .warehouse import Warehouse, quoted

Row = dict[str, Any]
ByAccount = dict[str, list[Row]]

# the marts the report reads; a warehouse built before one of them existed is rebuilt first
MARTS = (
    "accounts",
    "esrs_e1_7_summary",
    "credit_lines",
    "purchase_spend_monthly",
    "open_commitments",
    "vcmi_claim_coverage",
    "emissions_inventory",
    "certificate_register",
    "data_quality_issues",
    "order_details",
)


class MartReader:
    """Reads the reporting marts of one dataset for a set of accounts."""

    def __init__(self, warehouse: Warehouse, dataset: str) -> None:
        self.warehouse = warehouse
        self.schema = f"{dataset}_reporting"
        self._schema = quoted(self.schema)

    def check(self) -> None:
        """Fails in one sentence when the reporting project was never built (or is older
        than the report), instead of with a database error on the first query."""
        found = {
            r["table_name"]
            for r in self.warehouse.rows(
                "select table_name from information_schema.tables where table_schema = %s",
                [self.schema],
            )
        }
        missing = [m for m in MARTS if m not in found]
        if len(missing) == len(MARTS):
            raise ReportError(
                f"The warehouse has no reporting marts (schema {self.schema}): build them "
                "with `lune-pipeline transform` or a run, then write the report."
            )
        if missing:
            raise ReportError(
                f"The reporting schema {self.schema} lacks {', '.join(missing)}: rebuild it "
                "with `lune-pipeline transform`, then write the report."
            )

    def _mart(self, name: str) -> str:
        return f"{self._schema}.{name}"

    def accounts(self) -> list[Row]:
        """Every account the pipeline loads, with or without orders, by name."""
        return self.warehouse.rows(
            "select account_id, account_name, account_currency, account_scope, beneficiary, "
            "order_count, first_order_at, last_order_at "
            f"from {self._mart('accounts')} order by account_name, account_id"
        )

    def summaries(self, accounts: Sequence[str]) -> ByAccount:
        """esrs_e1_7_summary of the accounts, every year (the prior year is on each row).
        One read serves the default year, the fiscal-year setting and the year's figures:
        the view computes every year whatever the filter, so asking twice costs twice."""
        where, params = _accounts_in(accounts)
        return _by_account(
            self.warehouse.rows(
                f"select * from {self._mart('esrs_e1_7_summary')} where {where} "
                "order by account_id, reporting_year",
                params,
            )
        )

    def retired_lines(self, year: int, accounts: Sequence[str]) -> ByAccount:
        """The year's retired credits (credit_lines, voided orders left out) by UTC month of
        retirement, mechanism, project type, registry and host (EU or not): the series
        behind the month chart and the mix, read in one pass over the base mart the others
        aggregate (retirements_monthly would compute the same lines again). Tonnes only, so
        the account's currencies may be added: tonnes are tonnes."""
        where, params = _accounts_in(accounts)
        month = "date_trunc('month', retired_at at time zone 'UTC')"
        return _by_account(
            self.warehouse.rows(
                f"select account_id, cast({month} as date) as retirement_month, mechanism, "
                "project_type_key, registry_label, is_eu_host, "
                "sum(quantity_tonnes) as retired_tonnes, "
                "sum(case when retired_at_is_estimate then quantity_tonnes else 0 end) "
                "as fallback_dated_tonnes "
                f"from {self._mart('credit_lines')} "
                f"where is_retired and not is_void_order and reporting_year = %s and {where} "
                f"group by account_id, {month}, mechanism, project_type_key, registry_label, "
                "is_eu_host",
                [year, *params],
            )
        )

    def purchase_spend(self, year: int, accounts: Sequence[str]) -> ByAccount:
        """Spend per month of the year, one row per currency (never added across them)."""
        where, params = _accounts_in(accounts)
        return _by_account(
            self.warehouse.rows(
                "select account_id, purchase_month, currency, order_count, "
                "unpriced_order_count, tonnes_bought, net_spend, commission, gross_spend "
                f"from {self._mart('purchase_spend_monthly')} "
                f"where reporting_year = %s and {where} "
                "order by account_id, currency, purchase_month",
                [year, *params],
            )
        )

    def open_commitments(self, accounts: Sequence[str]) -> ByAccount:
        """Orders contracted and not finished, as the warehouse holds them now."""
        where, params = _accounts_in(accounts)
        return _by_account(
            self.warehouse.rows(
                "select account_id, order_id, status, currency, outstanding_tonnes, "
                "outstanding_tonnes_unknown, requested_value, age_days, is_overdue "
                f"from {self._mart('open_commitments')} where {where} "
                "order by account_id, age_days desc, order_id",
                params,
            )
        )

    def with_inventory(self, year: int, accounts: Sequence[str]) -> list[str]:
        """The accounts the emissions_inventory seed gives `year` for: only those have a VCMI
        coverage to show (the seed is a small table; vcmi_claim_coverage is a view over the
        summary, not worth computing again for accounts without an inventory)."""
        where, params = _accounts_in(accounts)
        return [
            r["account_id"]
            for r in self.warehouse.rows(
                f"select distinct account_id from {self._mart('emissions_inventory')} "
                f"where cast(reporting_year as integer) = %s and {where}",
                [year, *params],
            )
        ]

    def vcmi(self, year: int, accounts: Sequence[str]) -> dict[str, Row]:
        """vcmi_claim_coverage of `year` per account."""
        if not accounts:
            return {}
        where, params = _accounts_in(accounts)
        rows = self.warehouse.rows(
            f"select * from {self._mart('vcmi_claim_coverage')} where reporting_year = %s "
            f"and {where}",
            [year, *params],
        )
        return {r["account_id"]: r for r in rows}

    def certificates(self, year: int, accounts: Sequence[str]) -> ByAccount:
        """The certificate register of the year's retirements, oldest first."""
        where, params = _accounts_in(accounts)
        return _by_account(
            self.warehouse.rows(
                "select account_id, order_id, status, certificate_url, public_certificate_url, "
                "project_names, registries, country_codes, retired_tonnes, currency, "
                "retired_net_cost, retired_at, retired_at_is_estimate "
                f"from {self._mart('certificate_register')} "
                f"where reporting_year = %s and {where} "
                "order by account_id, retired_at, order_id",
                [year, *params],
            )
        )

    def quality_issues(self, year: int, accounts: Sequence[str]) -> ByAccount:
        """data_quality_issues of the accounts dated in `year` or not dated at all, each
        with the reporting year its order was placed in (null: not an order's condition, or
        an order the warehouse does not hold); `quality.concerns_year` picks the year's."""
        where, params = _accounts_in(accounts, "i.account_id")
        return _by_account(
            self.warehouse.rows(
                "select i.issue, i.severity, i.account_id, i.order_id, i.project_id, "
                "i.reporting_year, i.affected_tonnes, i.affected_amount, i.currency, "
                "i.detail, i.action, o.order_reporting_year, "
                "o.order_id is not null as is_known_order "
                f"from {self._mart('data_quality_issues')} as i "
                f"left join {self._mart('order_details')} as o "
                "on o.account_id = i.account_id and o.order_id = i.order_id "
                f"where (i.reporting_year = %s or i.reporting_year is null) and {where}",
                [year, *params],
            )
        )


def _accounts_in(accounts: Sequence[str], column: str = "account_id") -> tuple[str, list[str]]:
    if not accounts:
        return "1 = 0", []
    return f"{column} in ({', '.join(['%s'] * len(accounts))})", list(accounts)


def _by_account(rows: list[Row]) -> ByAccount:
    grouped: ByAccount = defaultdict(list)
    for row in rows:
        grouped[row["account_id"]].append(row)
    return grouped
