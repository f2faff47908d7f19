-- esrs_e1_7_summary
-- grain: one row per account x reporting year (account_id, reporting_year), every year from
--   the account's first (not voided) order to its last order or retirement
-- purpose: the ESRS E1-7 carbon-credit figures of one reporting undertaking (a Lune account)
--   for one reporting year (the fiscal_year_start_month var), with the prior year beside every
--   figure (ESRS 1 §86). §59(a) retired_tonnes; §59(b) / AR 63
--   planned_future_retirement_tonnes (tonnes under orders placed by the year's end, not voided
--   today, not retired by the year's end; null when a retirement first seen after the year's
--   end is dated only by the fallback, so the year's outstanding tonnes cannot be known);
--   AR 62 shares of removal / reduction, of biogenic / technological sinks (of removals), of
--   EU hosts and per registry. Lines of voided orders count toward nothing. Retirements dated
--   by the created_at fallback are counted in fallback_dated_tonnes beside the figures.
--   Corresponding adjustments are not in Lune's API: corresponding_adjustment_pct is null.
--   Credits are reported beside emissions, never subtracted from them.
{%- set metrics = esrs_e1_7_metrics() %}
{%- set tonnes = metrics.tonnes %}
{%- set shares = metrics.shares %}
{%- set compared = tonnes + shares | map(attribute=0) | list + [
    'registry_shares',
    'corresponding_adjustment_pct',
    'planned_future_retirement_tonnes',
    'is_planned_future_retirement_known',
    'is_dating_estimated',
] %}

with lines as (
    select * from {{ ref('credit_lines') }}
),

orders as (
    select * from {{ ref('order_details') }}
),

accounts as (
    select * from {{ ref('stg_lune__client_accounts') }}
),

registry_shares as (
    select * from {{ ref('esrs_e1_7_registry_shares') }}
),

retired as (
    select * from lines
    where is_retired
        and not is_void_order
),

activity_years as (
    select
        account_id,
        order_reporting_year as reporting_year
    from orders
    where not is_void
    union all
    select
        account_id,
        reporting_year
    from retired
),

account_bounds as (
    select
        account_id,
        min(reporting_year) as first_year,
        max(reporting_year) as last_year
    from activity_years
    group by account_id
),

account_years as (
    select
        account_id,
        {{ integer_series('first_year', 'last_year') }} as reporting_year
    from account_bounds
),

retired_per_year as (
    select
        account_id,
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
        sum(case when not is_eu_host then quantity_tonnes else 0 end) as non_eu_host_tonnes,
        sum(case when is_eu_host is null then quantity_tonnes else 0 end) as unknown_host_tonnes,
        sum(case when retired_at_is_estimate then quantity_tonnes else 0 end)
            as fallback_dated_tonnes
    from retired
    group by
        account_id,
        reporting_year
),

-- every contracted tonne: the year its order was placed, the year it was retired (null: not
-- yet) and the first year the loader knew it was retired (later than the retirement year
-- when a backfill found it already retired and only the created_at fallback dates it)
commitments as (
    select
        account_id,
        order_reporting_year as contract_year,
        cast(null as integer) as retirement_year,
        cast(null as integer) as known_retired_year,
        unretired_tonnes as tonnes
    from orders
    where is_open
    union all
    select
        account_id,
        order_reporting_year as contract_year,
        reporting_year as retirement_year,
        case
            when retired_at_is_estimate then {{ reporting_year('retirement_known_at') }}
            else reporting_year
        end as known_retired_year,
        quantity_tonnes as tonnes
    from retired
),

-- planned at the end of year Y: contracted by Y, not retired by Y. Unknowable when a tonne
-- contracted by Y carries a fallback date within Y but was first seen retired after Y.
planned as (
    select
        y.account_id,
        y.reporting_year,
        coalesce(
            sum(
                case
                    when c.retirement_year is null or c.retirement_year > y.reporting_year
                        then c.tonnes
                    else 0
                end
            ),
            0
        ) as planned_tonnes,
        sum(
            case
                when c.retirement_year <= y.reporting_year
                    and coalesce(c.known_retired_year, y.reporting_year + 1) > y.reporting_year
                    then 1
                else 0
            end
        ) as unknowable_count
    from account_years as y
    left join commitments as c
        on c.account_id = y.account_id
        and c.contract_year <= y.reporting_year
    group by
        y.account_id,
        y.reporting_year
),

registry_text as (
    select
        account_id,
        reporting_year,
        string_agg(
            registry_label || ' ' || cast(share_pct as {{ dbt.type_string() }}) || '%',
            '; '
            order by retired_tonnes desc, registry_label
        ) as registry_shares
    from registry_shares
    group by
        account_id,
        reporting_year
),

per_year as (
    select
        y.account_id,
        a.account_name,
        y.reporting_year,
        {{ period_start('y.reporting_year') }} as period_start,
        {{ period_end('y.reporting_year') }} as period_end,
        {%- for metric in tonnes %}
        coalesce(r.{{ metric }}, 0) as {{ metric }},
        {%- endfor %}
        {%- for name, part, whole in shares %}
        {{ share_pct('r.' ~ part, 'r.' ~ whole) }} as {{ name }},
        {%- endfor %}
        rt.registry_shares,
        cast(null as numeric(9,2)) as corresponding_adjustment_pct,
        case when p.unknowable_count = 0 then p.planned_tonnes end
            as planned_future_retirement_tonnes,
        p.unknowable_count = 0 as is_planned_future_retirement_known,
        coalesce(r.fallback_dated_tonnes, 0) > 0 as is_dating_estimated
    from account_years as y
    left join accounts as a
        on a.account_id = y.account_id
    left join retired_per_year as r
        on r.account_id = y.account_id
        and r.reporting_year = y.reporting_year
    left join planned as p
        on p.account_id = y.account_id
        and p.reporting_year = y.reporting_year
    left join registry_text as rt
        on rt.account_id = y.account_id
        and rt.reporting_year = y.reporting_year
),

final as (
    select
        cur.*,
        {%- for metric in compared %}
        prior.{{ metric }} as prior_year_{{ metric }}{{ "," if not loop.last }}
        {%- endfor %}
    from per_year as cur
    left join per_year as prior
        on prior.account_id = cur.account_id
        and prior.reporting_year = cur.reporting_year - 1
)

select * from final
