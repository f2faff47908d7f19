-- grain: one row per order x status the loader observed (account_id, order_id, status)
with source as (
    select * from {dataset}.order_status_history
),

final as (
    select
        account_id,
        order_id,
        status,
        previous_status,
        previous_status is not null as is_witnessed_transition,
        observed_at,
        order_created_at
    from source
)

select * from final
