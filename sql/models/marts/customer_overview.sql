-- customer_overview
-- grain: one row per account x end customer x currency; the end customer is the value of
--   the order metadata key set by customer_metadata_key (default customer_id; null = orders
--   without it)
-- purpose: lifetime figures per customer: retired tonnes and their removal share, tonnes
--   still to retire, net and gross spend in that currency, first and last order, last
--   retirement. Voided orders count toward nothing but voided_order_count.
with orders as (
    select * from {{ ref('order_details') }}
),

retired_per_order as (
    select
        account_id,
        order_id,
        sum(case when mechanism = 'removal' then quantity_tonnes else 0 end) as removal_tonnes,
        sum(case when mechanism = 'reduction' then quantity_tonnes else 0 end)
            as reduction_tonnes,
        max(retired_at) as last_retired_at
    from {{ ref('credit_lines') }}
    where is_retired
        and not is_void_order
    group by
        account_id,
        order_id
),

final as (
    select
        o.account_id,
        o.account_name,
        o.customer_id,
        o.currency,
        cast(sum(case when o.is_void then 0 else 1 end) as bigint) as order_count,
        cast(sum(case when o.is_void then 1 else 0 end) as bigint) as voided_order_count,
        sum(o.retired_tonnes) as retired_tonnes,
        coalesce(sum(r.removal_tonnes), 0) as removal_tonnes,
        coalesce(sum(r.reduction_tonnes), 0) as reduction_tonnes,
        {{ share_pct('sum(r.removal_tonnes)', 'sum(o.retired_tonnes)') }} as removal_pct,
        sum(case when o.is_open then o.unretired_tonnes else 0 end) as outstanding_tonnes,
        sum(case when o.is_void then 0 else coalesce(o.net_cost, 0) end) as net_spend,
        sum(case when o.is_void then 0 else coalesce(o.gross_cost, 0) end) as gross_spend,
        min(case when not o.is_void then o.created_at end) as first_order_at,
        max(case when not o.is_void then o.created_at end) as last_order_at,
        max(r.last_retired_at) as last_retired_at
    from orders as o
    left join retired_per_order as r
        on r.account_id = o.account_id
        and r.order_id = o.order_id
    group by
        o.account_id,
        o.account_name,
        o.customer_id,
        o.currency
)

select * from final
