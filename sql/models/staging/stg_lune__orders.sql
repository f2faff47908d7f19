-- stg_lune__orders
-- grain: one row per order (account_id, order_id)
-- purpose: the loaded `orders` table with clean names. Money stays beside its currency;
--   is_void marks Lune's voided orders (status cancelled / failed: not ESRS "cancelled");
--   is_vanished an open order the API stopped returning (its last known state is kept).
with source as (
    select * from {{ lune_source('orders') }}
),

renamed as (
    select
        account_id,
        id as order_id,
        idempotency_key,
        type as order_type,
        estimate_id,
        estimate_id is not null as is_estimate_order,
        status,
        coalesce(status in ('cancelled', 'failed'), false) as is_void,
        currency,
        offset_cost as net_cost,
        commission,
        total_cost as gross_cost,
        quantity as delivered_tonnes,
        requested_quantity as requested_tonnes,
        requested_value,
        payment_method,
        created_at,
        certificate as certificate_url,
        public_certificate_url,
        metadata,
        offset_link_id,
        email,
        vanished_at,
        vanished_at is not null as is_vanished,
        synced_at
    from source
),

final as (
    select * from renamed
)

select * from final
