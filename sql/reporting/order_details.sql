-- grain: one row per order (account_id, order_id)
-- purpose: status, amounts in the order's currency, requested vs delivered, net and gross
--   price per tonne, retired / allocated / unretired tonnes, certificate, account, metadata
with orders as (
    select * from {dataset}.stg_lune__orders
),

accounts as (
    select * from {dataset}.stg_lune__client_accounts
),

line_totals as (
    select
        account_id,
        order_id,
        sum(case when line_status = 'retired' then quantity_tonnes else 0 end) as retired_tonnes,
        sum(case when line_status = 'allocated' then quantity_tonnes else 0 end)
            as allocated_tonnes
    from {dataset}.stg_lune__order_projects
    group by account_id, order_id
),

final as (
    select
        o.account_id,
        a.account_name,
        o.order_id,
        o.idempotency_key,
        o.status,
        o.order_type,
        o.is_estimate_order,
        o.currency,
        o.net_cost,
        o.commission,
        o.gross_cost,
        o.requested_value,
        o.requested_tonnes,
        o.quantity_tonnes as delivered_tonnes,
        o.net_cost / nullif(o.quantity_tonnes, 0) as net_price_per_tonne,
        o.gross_cost / nullif(o.quantity_tonnes, 0) as gross_price_per_tonne,
        coalesce(t.retired_tonnes, 0) as retired_tonnes,
        coalesce(t.allocated_tonnes, 0) as allocated_tonnes,
        case
            when o.status in ('cancelled', 'failed') then 0
            else coalesce(o.quantity_tonnes, o.requested_tonnes, 0) - coalesce(t.retired_tonnes, 0)
        end as unretired_tonnes,
        o.certificate_url,
        o.public_certificate_url,
        o.offset_link_id,
        o.metadata,
        o.created_at
    from orders as o
    left join line_totals as t
        on t.account_id = o.account_id and t.order_id = o.order_id
    left join accounts as a
        on a.account_id = o.account_id
)

select * from final
