-- int_lune__order_retirement_times
-- grain: one row per order with a known status (account_id, order_id)
-- purpose: when each order entered `retiring` and `complete`, from Lune's order.* webhook
--   events where there are some, else from a run that witnessed the move (an order's first
--   observation dates nothing), and when the loader first saw the order.
with status_times as (
    select * from {{ ref('int_lune__order_status_times') }}
),

final as (
    select
        account_id,
        order_id,
        min(case when status = 'complete' then entered_at end) as complete_at,
        min(case when status = 'complete' then entered_at_source end) as complete_at_source,
        min(case when status = 'complete' then event_received_at end) as complete_received_at,
        min(case when status = 'retiring' then entered_at end) as retiring_at,
        min(case when status = 'retiring' then entered_at_source end) as retiring_at_source,
        min(case when status = 'retiring' then event_received_at end) as retiring_received_at,
        min(observed_at) as first_observed_at
    from status_times
    group by
        account_id,
        order_id
)

select * from final
