-- stg_lune__order_bundles
-- grain: one row per order x bundle line (account_id, order_id, line_idx)
-- purpose: the bundles an order bought, with clean names; prices in the order's currency
with source as (
    select * from {{ lune_source('orders__bundles') }}
),

renamed as (
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
        coalesce(insufficient_available_quantity, false) as is_insufficient_inventory,
        synced_at
    from source
),

final as (
    select * from renamed
)

select * from final
