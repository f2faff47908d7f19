-- vcmi_claim_coverage
-- grain: one row per account x reporting year (account_id, reporting_year): every year of
--   esrs_e1_7_summary and every year the emissions inventory gives
-- purpose: the VCMI Claims Code tier an account's retired credits support for a claim year:
--   credits retired in the year (esrs_e1_7_summary.retired_tonnes) against the year's
--   remaining emissions (scope 1 + 2 + 3 from the emissions_inventory seed). Silver: 20 % to
--   under 60 %; Gold: 60 % to under 100 %; Platinum: 100 % or more; none below 20 %. Without
--   an inventory for the year the tier is null and has_inventory is false. Credits are set
--   beside the emissions, never subtracted from them. VCMI's other prerequisites (science-
--   based targets, progress, quality of credits) are not checked here.
with summary as (
    select * from {{ ref('esrs_e1_7_summary') }}
),

inventory as (
    select * from {{ ref('emissions_inventory') }}
),

accounts as (
    select * from {{ ref('stg_lune__client_accounts') }}
),

account_years as (
    select
        account_id,
        reporting_year
    from summary
    union
    select
        account_id,
        cast(reporting_year as integer) as reporting_year
    from inventory
),

joined as (
    select
        y.account_id,
        a.account_name,
        y.reporting_year,
        i.account_id is not null as has_inventory,
        i.scope_1_tco2e,
        i.scope_2_tco2e,
        i.scope_3_tco2e,
        coalesce(i.scope_1_tco2e, 0)
        + coalesce(i.scope_2_tco2e, 0)
        + coalesce(i.scope_3_tco2e, 0) as remaining_emissions_tco2e,
        coalesce(s.retired_tonnes, 0) as retired_tonnes,
        coalesce(s.fallback_dated_tonnes, 0) as fallback_dated_tonnes
    from account_years as y
    left join summary as s
        on s.account_id = y.account_id
        and s.reporting_year = y.reporting_year
    left join inventory as i
        on i.account_id = y.account_id
        and cast(i.reporting_year as integer) = y.reporting_year
    left join accounts as a
        on a.account_id = y.account_id
),

covered as (
    select
        *,
        case
            when has_inventory
                then {{ share_pct('retired_tonnes', 'remaining_emissions_tco2e') }}
        end as coverage_pct
    from joined
),

final as (
    select
        account_id,
        account_name,
        reporting_year,
        {{ period_start('reporting_year') }} as period_start,
        {{ period_end('reporting_year') }} as period_end,
        has_inventory,
        scope_1_tco2e,
        scope_2_tco2e,
        scope_3_tco2e,
        case when has_inventory then remaining_emissions_tco2e end as remaining_emissions_tco2e,
        retired_tonnes,
        fallback_dated_tonnes,
        coverage_pct,
        -- on the exact tonnes, not the rounded percentage: 19.999 % is not Silver
        case
            when coverage_pct is null then null
            when retired_tonnes >= remaining_emissions_tco2e then 'platinum'
            when 100 * retired_tonnes >= 60 * remaining_emissions_tco2e then 'gold'
            when 100 * retired_tonnes >= 20 * remaining_emissions_tco2e then 'silver'
            else 'none'
        end as vcmi_tier,
        case
            when not has_inventory then
                'no emissions inventory for this account and year: '
                || 'add it to the emissions_inventory seed'
            when remaining_emissions_tco2e = 0 then 'the inventory gives no emissions for this year'
            when fallback_dated_tonnes > 0 then
                'part of the retired tonnes is dated by the created_at fallback: '
                || 'check their retirement dates'
        end as coverage_note
    from covered
)

select * from final
