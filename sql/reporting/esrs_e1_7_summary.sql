-- grain: one row per reporting year (year the credits were retired, i.e. "cancelled" in ESRS)
-- purpose: ESRS E1-7 §59 / AR 62-63 figures: tonnes retired in the year, planned future
--   retirements (contracted, not yet retired; on the current year's row), shares of removal,
--   reduction, biogenic / technological removal, EU host country, unclassified, per registry,
--   and the prior year beside it. Credits are reported beside emissions, never netted.
with retired as (
    select * from {dataset}.credit_lines
    where line_status = 'retired'
),

yearly as (
    select
        reporting_year,
        sum(quantity_tonnes) as retired_tonnes,
        sum(case when mechanism = 'removal' then quantity_tonnes else 0 end) as removal_tonnes,
        sum(case when mechanism = 'reduction' then quantity_tonnes else 0 end) as reduction_tonnes,
        sum(case when mechanism = 'removal' and sink = 'biogenic' then quantity_tonnes else 0 end)
            as biogenic_removal_tonnes,
        sum(
            case when mechanism = 'removal' and sink in ('technological', 'hybrid')
                then quantity_tonnes else 0 end
        ) as technological_removal_tonnes,
        sum(case when is_eu_host then quantity_tonnes else 0 end) as eu_tonnes,
        sum(case when mechanism not in ('removal', 'reduction') then quantity_tonnes else 0 end)
            as unclassified_tonnes,
        sum(case when retired_at_is_estimate then quantity_tonnes else 0 end)
            as tonnes_with_estimated_date
    from retired
    group by reporting_year
),

registries as (
    select
        reporting_year,
        coalesce(registry_name, 'unknown') as registry_name,
        sum(quantity_tonnes) as tonnes
    from retired
    group by reporting_year, coalesce(registry_name, 'unknown')
),

registry_shares as (
    select
        r.reporting_year,
        string_agg(
            r.registry_name || ' ' || cast(round(100 * r.tonnes / y.retired_tonnes, 1) as text) || '%',
            '; ' order by r.tonnes desc, r.registry_name
        ) as registry_shares
    from registries as r
    inner join yearly as y on y.reporting_year = r.reporting_year
    group by r.reporting_year
),

planned as (
    select sum(unretired_tonnes) as planned_tonnes
    from {dataset}.open_commitments
),

final as (
    select
        y.reporting_year,
        y.retired_tonnes,
        case when y.reporting_year = cast(extract(year from current_date) as integer)
            then coalesce(p.planned_tonnes, 0) end as planned_future_retirement_tonnes,
        round(100 * y.removal_tonnes / nullif(y.retired_tonnes, 0), 2) as removal_pct,
        round(100 * y.reduction_tonnes / nullif(y.retired_tonnes, 0), 2) as reduction_pct,
        round(100 * y.biogenic_removal_tonnes / nullif(y.removal_tonnes, 0), 2)
            as biogenic_share_of_removal_pct,
        round(100 * y.technological_removal_tonnes / nullif(y.removal_tonnes, 0), 2)
            as technological_share_of_removal_pct,
        round(100 * y.eu_tonnes / nullif(y.retired_tonnes, 0), 2) as eu_host_pct,
        round(100 * y.unclassified_tonnes / nullif(y.retired_tonnes, 0), 2) as unclassified_pct,
        rs.registry_shares,
        y.tonnes_with_estimated_date,
        lag(y.retired_tonnes) over (order by y.reporting_year) as prior_year_retired_tonnes,
        lag(round(100 * y.removal_tonnes / nullif(y.retired_tonnes, 0), 2))
            over (order by y.reporting_year) as prior_year_removal_pct
    from yearly as y
    left join registry_shares as rs on rs.reporting_year = y.reporting_year
    cross join planned as p
)

select * from final
