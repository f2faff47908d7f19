-- int_lune__allocation_retirement_times
-- grain: one row per order x project with an allocation.retired webhook event
--   (account_id, order_id, project_id)
-- purpose: when Lune retired an order's credits of one project: the time Lune signed the
--   first delivery of the allocation.retired event, the most exact retirement time there is,
--   and when the receiver stored that event.
with events as (
    select * from {{ ref('stg_lune__webhook_events') }}
),

-- the first signed event of each order and project, with its own receipt
ranked as (
    select
        account_id,
        order_id,
        project_id,
        signed_at,
        received_at,
        row_number() over (
            partition by account_id, order_id, project_id
            order by signed_at, received_at, event_id
        ) as event_rank
    from events
    where event_type = 'allocation.retired'
        and order_id is not null
        and project_id is not null
),

final as (
    select
        account_id,
        order_id,
        project_id,
        signed_at as retired_signed_at,
        received_at as retired_received_at
    from ranked
    where event_rank = 1
)

select * from final
