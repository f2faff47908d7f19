-- order_status_changes
-- grain: one row per order x status entered (account_id, order_id, status)
-- purpose: each order's status history with the time of every change from the best witness
--   there is: Lune's order.* webhook event (the signed time of its first delivery, with the
--   receipt beside it), else the run that saw the order move (entered_at_source). Voided
--   orders included: the history is what happened.
with status_times as (
    select * from {{ ref('int_lune__order_status_times') }}
),

orders as (
    select * from {{ ref('stg_lune__orders') }}
),

accounts as (
    select * from {{ ref('stg_lune__client_accounts') }}
),

final as (
    select
        s.account_id,
        a.account_name,
        s.order_id,
        s.status,
        s.previous_status,
        s.is_witnessed_transition,
        s.entered_at,
        s.entered_at_source,
        s.event_signed_at,
        s.event_received_at,
        s.observed_at,
        o.status as current_status,
        o.created_at as order_created_at
    from status_times as s
    left join orders as o
        on o.account_id = s.account_id
        and o.order_id = s.order_id
    left join accounts as a
        on a.account_id = s.account_id
)

select * from final
