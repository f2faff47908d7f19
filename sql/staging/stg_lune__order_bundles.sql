-- grain: one row per order x bundle line (account_id, order_id, line_idx)
with source as (
    select * from {dataset}.orders__bundles
),

final as (
    select
        account_id,
        order_id,
        line_idx,
        bundle_id,
        bundle_name,
        quantity as quantity_tonnes,
        unit_price as net_unit_price,
        gross_unit_price,
        offset_cost as net_cost,
        coalesce(insufficient_available_quantity, false) as insufficient_inventory
    from source
)

select * from final
