-- int_lune__order_retirement_times
-- grain: one row per order seen in the status history (account_id, order_id)
-- purpose: when the loader witnessed each order enter `retiring` and `complete`. Only a
--   witnessed transition (previous_status not null) dates a change; a first observation only
--   says the order was already in that status.
with history as (
    select * from {{ ref('stg_lune__order_status_history') }}
),

final as (
    select
        account_id,
        order_id,
        min(
            case when status = 'complete' and is_witnessed_transition then observed_at end
        ) as witnessed_complete_at,
        min(
            case when status = 'retiring' and is_witnessed_transition then observed_at end
        ) as witnessed_retiring_at,
        min(observed_at) as first_observed_at
    from history
    group by
        account_id,
        order_id
)

select * from final
