-- grain: one row per account x end customer (the order metadata key '{customer_key}') x currency
-- purpose: lifetime retired tonnes, net spend in that currency, removal share, first and last order
with orders as (
    select
        account_id,
        order_id,
        currency,
        net_cost,
        status,
        created_at,
        metadata ->> '{customer_key}' as customer_id
    from {dataset}.stg_lune__orders
),

lines as (
    select
        account_id,
        order_id,
        sum(case when line_status = 'retired' then quantity_tonnes else 0 end) as retired_tonnes,
        sum(
            case when line_status = 'retired' and mechanism = 'removal' then quantity_tonnes else 0 end
        ) as removal_tonnes
    from {dataset}.credit_lines
    group by account_id, order_id
),

final as (
    select
        o.account_id,
        o.customer_id,
        o.currency,
        count(*) as orders,
        coalesce(sum(l.retired_tonnes), 0) as retired_tonnes,
        round(100 * sum(l.removal_tonnes) / nullif(sum(l.retired_tonnes), 0), 2) as removal_pct,
        sum(case when o.status not in ('cancelled', 'failed') then o.net_cost else 0 end)
            as net_spend,
        min(o.created_at) as first_order_at,
        max(o.created_at) as last_order_at
    from orders as o
    left join lines as l
        on l.account_id = o.account_id and l.order_id = o.order_id
    group by o.account_id, o.customer_id, o.currency
)

select * from final
