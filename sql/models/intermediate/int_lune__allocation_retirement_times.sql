-- int_lune__allocation_retirement_times
-- grain: one row per order x project with an allocation.retired webhook event
--   (account_id, order_id, project_id)
-- purpose: when Lune retired an order's credits of one project: the time Lune signed the
--   first delivery of the allocation.retired event, the most exact retirement time there is,
--   and when the receiver first stored one.
with events as (
    select * from {{ ref('stg_lune__webhook_events') }}
),

final as (
    select
        account_id,
        order_id,
        project_id,
        min(signed_at) as retired_signed_at,
        min(received_at) as retired_received_at
    from events
    where event_type = 'allocation.retired'
        and order_id is not null
        and project_id is not null
    group by
        account_id,
        order_id,
        project_id
)

select * from final
