-- grain: one row per order (account_id, order_id)
-- purpose: the loaded orders with clean names; money stays beside its currency
with source as (
    select * from {dataset}.orders
),

renamed as (
    select
        account_id,
        id as order_id,
        idempotency_key,
        type as order_type,
        estimate_id is not null as is_estimate_order,
        status,
        currency,
        offset_cost as net_cost,
        commission,
        total_cost as gross_cost,
        quantity as quantity_tonnes,
        requested_quantity as requested_tonnes,
        requested_value,
        payment_method,
        created_at,
        certificate as certificate_url,
        public_certificate_url,
        metadata,
        offset_link_id,
        synced_at
    from source
),

final as (
    select * from renamed
)

select * from final
