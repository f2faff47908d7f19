-- esrs_e1_7_registry_shares
-- grain: one row per reporting year x registry (registry_label)
-- purpose: ESRS E1-7 AR 62 share of retired credits per recognised quality standard, as
--   numbers (esrs_e1_7_summary.registry_shares spells the same in one text column).
--   'Not certified' = a catalogued project without a registry; 'Unknown project' = a
--   project missing from Lune's catalogue.
with retired as (
    select * from {{ ref('credit_lines') }}
    where line_status = 'retired'
),

per_registry as (
    select
        reporting_year,
        registry_label,
        sum(quantity_tonnes) as retired_tonnes
    from retired
    group by
        reporting_year,
        registry_label
),

final as (
    select
        reporting_year,
        registry_label,
        retired_tonnes,
        cast(
            round(
                100 * retired_tonnes
                / nullif(sum(retired_tonnes) over (partition by reporting_year), 0),
                2
            ) as numeric(9,2)
        ) as share_pct
    from per_registry
)

select * from final
