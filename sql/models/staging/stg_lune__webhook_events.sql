-- stg_lune__webhook_events
-- grain: one row per webhook event Lune delivered (event_id)
-- purpose: order status changes and allocations (new / retired, per project of an order) with
--   the time Lune signed the first delivery of each: the best time of a change there is
--   (seconds after it while the receiver is up, the redelivery time after an outage).
--   allocation_id / project_id are set on allocation events only.
with source as (
    select * from {{ lune_source('webhook_events') }}
),

renamed as (
    select
        event_id,
        account_id,
        event_type,
        split_part(event_type, '.', 1) as event_family,
        sequence as event_sequence,
        api_version,
        order_id,
        case when event_type like 'allocation.%' then object_id end as allocation_id,
        project_id,
        status as object_status,
        quantity as quantity_tonnes,
        signed_at,
        received_at,
        delivery_file,
        event as event_payload
    from source
),

final as (
    select * from renamed
)

select * from final
