-- grain: one row per project type x mechanism x permanence x registry x country x bundle x currency
-- purpose: what the portfolio is made of: contracted and retired tonnes and net spend
with lines as (
    select * from {dataset}.credit_lines
    where order_status not in ('cancelled', 'failed')
),

final as (
    select
        project_type,
        mechanism,
        carbon_permanence,
        registry_name,
        country_code,
        bundle_name,
        currency,
        sum(quantity_tonnes) as tonnes,
        sum(case when line_status = 'retired' then quantity_tonnes else 0 end) as retired_tonnes,
        sum(net_cost) as net_spend,
        count(distinct order_id) as orders
    from lines
    group by
        project_type,
        mechanism,
        carbon_permanence,
        registry_name,
        country_code,
        bundle_name,
        currency
)

select * from final
