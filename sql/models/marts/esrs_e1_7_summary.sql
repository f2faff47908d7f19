-- esrs_e1_7_summary
-- grain: one row per reporting year (UTC calendar year), over every account in the dataset
-- purpose: ESRS E1-7 §59 and AR 62-63. retired_tonnes = credits retired (ESRS "cancelled") in
--   the year (§59(a)); planned_future_retirement_tonnes = tonnes under existing contracts
--   (orders, not voided) made by the year's end and not retired by then (§59(b), AR 63);
--   shares of removal / reduction / mixed / unclassified, removal sinks (of removal tonnes),
--   EU host countries and registries (AR 62); the prior year beside it (ESRS 1 §86).
--   Corresponding adjustments are not in Lune's API: corresponding_adjustment_pct is null.
--   Credits are reported beside emissions, never subtracted from them.
with lines as (
    select * from {{ ref('credit_lines') }}
),

orders as (
    select * from {{ ref('order_details') }}
),

registry_shares as (
    select * from {{ ref('esrs_e1_7_registry_shares') }}
),

retired as (
    select * from lines
    where line_status = 'retired'
),

years as (
    select reporting_year from retired
    union
    select cast(extract(year from created_at at time zone 'UTC') as integer) as reporting_year
    from orders
    where not is_void
),

retired_per_year as (
    select
        reporting_year,
        sum(quantity_tonnes) as retired_tonnes,
        sum(case when mechanism = 'removal' then quantity_tonnes else 0 end) as removal_tonnes,
        sum(case when mechanism = 'reduction' then quantity_tonnes else 0 end)
            as reduction_tonnes,
        sum(case when mechanism = 'mixed' then quantity_tonnes else 0 end) as mixed_tonnes,
        sum(case when mechanism = 'unclassified' then quantity_tonnes else 0 end)
            as unclassified_tonnes,
        sum(case when removal_sink = 'biogenic' then quantity_tonnes else 0 end)
            as biogenic_removal_tonnes,
        sum(case when removal_sink = 'technological' then quantity_tonnes else 0 end)
            as technological_removal_tonnes,
        sum(case when removal_sink = 'hybrid' then quantity_tonnes else 0 end)
            as hybrid_removal_tonnes,
        sum(case when removal_sink = 'unknown' then quantity_tonnes else 0 end)
            as unknown_sink_removal_tonnes,
        sum(case when is_eu_host then quantity_tonnes else 0 end) as eu_host_tonnes,
        sum(case when retired_at_is_estimate then quantity_tonnes else 0 end)
            as estimated_date_tonnes
    from retired
    group by reporting_year
),

-- every contracted tonne with the year it was contracted and the year it was retired
-- (null: not yet); planned at the end of year Y = contracted by Y, not retired by Y
commitments as (
    select
        cast(extract(year from created_at at time zone 'UTC') as integer) as contract_year,
        cast(null as integer) as retirement_year,
        unretired_tonnes as tonnes
    from orders
    where is_open
    union all
    select
        cast(extract(year from order_created_at at time zone 'UTC') as integer)
            as contract_year,
        reporting_year as retirement_year,
        quantity_tonnes as tonnes
    from retired
    where not is_void_order
),

planned as (
    select
        y.reporting_year,
        sum(c.tonnes) as planned_tonnes
    from years as y
    inner join commitments as c
        on c.contract_year <= y.reporting_year
        and (c.retirement_year is null or c.retirement_year > y.reporting_year)
    group by y.reporting_year
),

registry_text as (
    select
        reporting_year,
        string_agg(
            registry_label || ' ' || cast(share_pct as text) || '%',
            '; '
            order by retired_tonnes desc, registry_label
        ) as registry_shares
    from registry_shares
    group by reporting_year
),

per_year as (
    select
        y.reporting_year,
        coalesce(r.retired_tonnes, 0) as retired_tonnes,
        coalesce(p.planned_tonnes, 0) as planned_future_retirement_tonnes,
        coalesce(r.removal_tonnes, 0) as removal_tonnes,
        coalesce(r.reduction_tonnes, 0) as reduction_tonnes,
        coalesce(r.mixed_tonnes, 0) as mixed_tonnes,
        coalesce(r.unclassified_tonnes, 0) as unclassified_tonnes,
        cast(round(100 * r.removal_tonnes / nullif(r.retired_tonnes, 0), 2) as numeric(9,2))
            as removal_pct,
        cast(round(100 * r.reduction_tonnes / nullif(r.retired_tonnes, 0), 2) as numeric(9,2))
            as reduction_pct,
        cast(round(100 * r.mixed_tonnes / nullif(r.retired_tonnes, 0), 2) as numeric(9,2))
            as mixed_pct,
        cast(
            round(100 * r.unclassified_tonnes / nullif(r.retired_tonnes, 0), 2) as numeric(9,2)
        ) as unclassified_pct,
        cast(
            round(100 * r.biogenic_removal_tonnes / nullif(r.removal_tonnes, 0), 2)
            as numeric(9,2)
        ) as biogenic_removal_pct,
        cast(
            round(100 * r.technological_removal_tonnes / nullif(r.removal_tonnes, 0), 2)
            as numeric(9,2)
        ) as technological_removal_pct,
        cast(
            round(100 * r.hybrid_removal_tonnes / nullif(r.removal_tonnes, 0), 2)
            as numeric(9,2)
        ) as hybrid_removal_pct,
        cast(
            round(100 * r.unknown_sink_removal_tonnes / nullif(r.removal_tonnes, 0), 2)
            as numeric(9,2)
        ) as unknown_sink_removal_pct,
        coalesce(r.eu_host_tonnes, 0) as eu_host_tonnes,
        cast(round(100 * r.eu_host_tonnes / nullif(r.retired_tonnes, 0), 2) as numeric(9,2))
            as eu_host_pct,
        rt.registry_shares,
        cast(null as numeric(9,2)) as corresponding_adjustment_pct,
        coalesce(r.estimated_date_tonnes, 0) as estimated_date_tonnes
    from years as y
    left join retired_per_year as r
        on r.reporting_year = y.reporting_year
    left join planned as p
        on p.reporting_year = y.reporting_year
    left join registry_text as rt
        on rt.reporting_year = y.reporting_year
),

final as (
    select
        cur.*,
        prior.retired_tonnes as prior_year_retired_tonnes,
        prior.planned_future_retirement_tonnes as prior_year_planned_future_retirement_tonnes,
        prior.removal_pct as prior_year_removal_pct,
        prior.reduction_pct as prior_year_reduction_pct,
        prior.eu_host_pct as prior_year_eu_host_pct
    from per_year as cur
    left join per_year as prior
        on prior.reporting_year = cur.reporting_year - 1
)

select * from final
