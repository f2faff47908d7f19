-- stg_lune__order_status_history
-- grain: one row per order x status the loader observed (account_id, order_id, status)
-- purpose: status changes as the loader saw them. is_witnessed_transition is false on an
--   order's first observation: then observed_at is when the loader first saw the order, not
--   when it entered the status.
with source as (
    select * from {{ lune_source('order_status_history') }}
),

renamed as (
    select
        account_id,
        order_id,
        status,
        previous_status,
        previous_status is not null as is_witnessed_transition,
        observed_at,
        order_created_at,
        load_id
    from source
),

final as (
    select * from renamed
)

select * from final
