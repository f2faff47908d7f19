-- portfolio_mix
-- grain: one row per project type x mechanism x removal sink x permanence x registry x
--   host country x bundle x currency, over the lines of orders that are not voided
-- purpose: what the portfolio is made of (Lune's analytics by bundle, registry, country,
--   offset type; CDP C11.2a project types): contracted, retired and allocated tonnes and net
--   spend in that currency. project_type is the normalised (lower-case, trimmed) type.
with lines as (
    select * from {{ ref('credit_lines') }}
    where not is_void_order
),

final as (
    select
        project_type_key as project_type,
        mechanism,
        removal_sink,
        carbon_permanence,
        registry_label,
        country_code,
        bundle_name,
        currency,
        sum(quantity_tonnes) as contracted_tonnes,
        sum(case when line_status = 'retired' then quantity_tonnes else 0 end)
            as retired_tonnes,
        sum(case when line_status = 'allocated' then quantity_tonnes else 0 end)
            as allocated_tonnes,
        sum(net_cost) as net_spend,
        sum(case when line_status = 'retired' then net_cost else 0 end) as retired_net_spend,
        count(distinct order_id) as order_count,
        count(*) as line_count
    from lines
    group by
        project_type_key,
        mechanism,
        removal_sink,
        carbon_permanence,
        registry_label,
        country_code,
        bundle_name,
        currency
)

select * from final
