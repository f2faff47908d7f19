-- esrs_e1_7_registry_shares
-- grain: one row per account x reporting year x registry (account_id, reporting_year,
--   registry_label)
-- purpose: ESRS E1-7 AR 62 share of an account's retired credits per recognised quality
--   standard, as numbers (esrs_e1_7_summary.registry_shares spells the same in one text
--   column). 'Not certified' = a catalogued project without a registry; 'Unknown project' =
--   a project missing from Lune's catalogue. Lines of voided orders count toward nothing.
with retired as (
    select * from {{ ref('credit_lines') }}
    where is_retired
        and not is_void_order
),

per_registry as (
    select
        account_id,
        account_name,
        reporting_year,
        registry_label,
        sum(quantity_tonnes) as retired_tonnes,
        sum(case when retired_at_is_estimate then quantity_tonnes else 0 end)
            as fallback_dated_tonnes
    from retired
    group by
        account_id,
        account_name,
        reporting_year,
        registry_label
),

final as (
    select
        account_id,
        account_name,
        reporting_year,
        {{ period_start('reporting_year') }} as period_start,
        {{ period_end('reporting_year') }} as period_end,
        registry_label,
        retired_tonnes,
        cast(
            round(
                100 * retired_tonnes
                / nullif(sum(retired_tonnes) over (partition by account_id, reporting_year), 0),
                2
            ) as numeric(9,2)
        ) as share_pct,
        fallback_dated_tonnes
    from per_registry
)

select * from final
