-- esrs_e1_7_summary_organisation
-- grain: one row per reporting year (reporting_year), over every account of the dataset
-- purpose: an organisation rollup, for a group that discloses for all its Lune accounts
--   together: the tonnes of esrs_e1_7_summary added up across accounts and the shares
--   recomputed from those sums, with the prior year beside each. Tonnes only, never money
--   (accounts buy in different currencies). The planned figure is null when it is unknown
--   for any account. Each Lune account discloses on its own in esrs_e1_7_summary: use this
--   mart only where the accounts form one reporting undertaking.
{%- set metrics = esrs_e1_7_metrics() %}
{%- set tonnes = metrics.tonnes %}
{%- set shares = metrics.shares %}
{%- set compared = tonnes + shares | map(attribute=0) | list + [
    'planned_future_retirement_tonnes',
    'is_planned_future_retirement_known',
    'is_dating_estimated',
] %}

with accounts as (
    select * from {{ ref('esrs_e1_7_summary') }}
),

summed as (
    select
        reporting_year,
        min(period_start) as period_start,
        min(period_end) as period_end,
        count(distinct account_id) as account_count,
        {%- for metric in tonnes %}
        sum({{ metric }}) as {{ metric }},
        {%- endfor %}
        sum(planned_future_retirement_tonnes) as planned_known_tonnes,
        sum(case when is_planned_future_retirement_known then 0 else 1 end)
            as unknown_planned_accounts
    from accounts
    group by reporting_year
),

per_year as (
    select
        reporting_year,
        period_start,
        period_end,
        account_count,
        {%- for metric in tonnes %}
        {{ metric }},
        {%- endfor %}
        {%- for name, part, whole in shares %}
        {{ share_pct(part, whole) }} as {{ name }},
        {%- endfor %}
        case when unknown_planned_accounts = 0 then planned_known_tonnes end
            as planned_future_retirement_tonnes,
        unknown_planned_accounts = 0 as is_planned_future_retirement_known,
        fallback_dated_tonnes > 0 as is_dating_estimated
    from summed
),

final as (
    select
        cur.*,
        {%- for metric in compared %}
        prior.{{ metric }} as prior_year_{{ metric }}{{ "," if not loop.last }}
        {%- endfor %}
    from per_year as cur
    left join per_year as prior
        on prior.reporting_year = cur.reporting_year - 1
)

select * from final
