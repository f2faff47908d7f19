-- grain: one row per order with retired credits
-- purpose: evidence per retirement (ISO 14068-1 §11, CDP C11.2a): certificate URLs, projects,
--   registries, tonnes retired, when
with retired as (
    select * from {dataset}.credit_lines
    where line_status = 'retired'
),

per_order as (
    select
        account_id,
        order_id,
        string_agg(distinct project_name, '; ') as projects,
        string_agg(distinct coalesce(registry_name, 'unknown'), '; ') as registries,
        sum(quantity_tonnes) as retired_tonnes,
        max(retired_at) as retired_at,
        max(case when retired_at_is_estimate then 1 else 0 end) = 1 as retired_at_is_estimate
    from retired
    group by account_id, order_id
),

final as (
    select
        p.account_id,
        p.order_id,
        o.status,
        o.certificate_url,
        o.public_certificate_url,
        p.projects,
        p.registries,
        p.retired_tonnes,
        p.retired_at,
        p.retired_at_is_estimate
    from per_order as p
    inner join {dataset}.stg_lune__orders as o
        on o.account_id = p.account_id and o.order_id = p.order_id
)

select * from final
