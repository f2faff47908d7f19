-- grain: one row per order contracted but not fully retired (status received / placed /
--   paid / retiring)
-- purpose: ESRS E1-7 §59(b) future retirements: tonnes outstanding, age, bundle offset types,
--   insufficient-inventory flags
with orders as (
    select * from {dataset}.order_details
    where status in ('received', 'placed', 'paid', 'retiring')
),

bundle_lines as (
    select
        ob.account_id,
        ob.order_id,
        string_agg(distinct coalesce(b.offset_type, 'unknown'), ', ') as bundle_offset_types,
        max(case when ob.insufficient_inventory then 1 else 0 end) = 1 as insufficient_inventory
    from {dataset}.stg_lune__order_bundles as ob
    left join {dataset}.stg_lune__bundles as b on b.bundle_id = ob.bundle_id
    group by ob.account_id, ob.order_id
),

final as (
    select
        o.account_id,
        o.order_id,
        o.status,
        o.currency,
        coalesce(o.delivered_tonnes, o.requested_tonnes) as contracted_tonnes,
        o.retired_tonnes,
        o.unretired_tonnes,
        o.net_cost,
        o.created_at,
        current_date - cast(o.created_at as date) as age_days,
        b.bundle_offset_types,
        coalesce(b.insufficient_inventory, false) as insufficient_inventory
    from orders as o
    left join bundle_lines as b
        on b.account_id = o.account_id and b.order_id = o.order_id
)

select * from final
