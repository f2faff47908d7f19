-- int_lune__order_status_times
-- grain: one row per order x status known from the loader or from Lune's webhooks
--   (account_id, order_id, status)
-- purpose: when each order entered each status, from the best witness there is. A webhook
--   event (order.*) carries the time Lune signed its first delivery: seconds after the
--   change while the receiver is up. Without one, a run that saw the order move into the
--   status dates it (the run's start: up to a schedule interval late). An order's first
--   observation dates nothing (it only says the order was already in that status).
with history as (
    select * from {{ ref('stg_lune__order_status_history') }}
),

events as (
    select * from {{ ref('stg_lune__webhook_events') }}
),

-- the first signed event of each order and status, with its own receipt
ranked_events as (
    select
        account_id,
        order_id,
        object_status as status,
        signed_at,
        received_at,
        row_number() over (
            partition by account_id, order_id, object_status
            order by signed_at, received_at, event_id
        ) as event_rank
    from events
    where event_family = 'order'
        and order_id is not null
        and object_status is not null
),

event_times as (
    select
        account_id,
        order_id,
        status,
        signed_at as event_signed_at,
        received_at as event_received_at
    from ranked_events
    where event_rank = 1
),

status_keys as (
    select
        account_id,
        order_id,
        status
    from history
    union
    select
        account_id,
        order_id,
        status
    from event_times
),

final as (
    select
        k.account_id,
        k.order_id,
        k.status,
        h.previous_status,
        coalesce(h.is_witnessed_transition, false) as is_witnessed_transition,
        h.observed_at,
        e.event_signed_at,
        e.event_received_at,
        case
            when e.event_signed_at is not null then e.event_signed_at
            when h.is_witnessed_transition then h.observed_at
        end as entered_at,
        case
            when e.event_signed_at is not null then 'webhook_event'
            when h.is_witnessed_transition then 'witnessed_transition'
        end as entered_at_source
    from status_keys as k
    left join history as h
        on h.account_id = k.account_id
        and h.order_id = k.order_id
        and h.status = k.status
    left join event_times as e
        on e.account_id = k.account_id
        and e.order_id = k.order_id
        and e.status = k.status
)

select * from final
