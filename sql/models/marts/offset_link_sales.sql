-- offset_link_sales
-- grain: one row per account x offset link x currency (account_id, offset_link_id, currency),
--   over orders that are not voided
-- purpose: for platforms that sell offsets to their own customers through Lune offset links:
--   orders, tonnes bought and retired, money taken in that currency, and how many distinct
--   end customers bought (by the order's email, as stored: a keyed hash counts the same;
--   null when the pipeline drops emails).
with orders as (
    select * from {{ ref('order_details') }}
    where not is_void
        and offset_link_id is not null
),

emails as (
    select
        account_id,
        order_id,
        email
    from {{ ref('stg_lune__orders') }}
),

final as (
    select
        o.account_id,
        o.account_name,
        o.offset_link_id,
        o.currency,
        cast(count(*) as bigint) as order_count,
        sum(coalesce(o.delivered_tonnes, 0)) as tonnes_bought,
        sum(o.retired_tonnes) as retired_tonnes,
        sum(coalesce(o.net_cost, 0)) as net_spend,
        sum(coalesce(o.commission, 0)) as commission,
        sum(coalesce(o.gross_cost, 0)) as gross_spend,
        case
            when count(e.email) > 0 then cast(count(distinct e.email) as bigint)
        end as end_customer_count,
        min(o.created_at) as first_order_at,
        max(o.created_at) as last_order_at
    from orders as o
    left join emails as e
        on e.account_id = o.account_id
        and e.order_id = o.order_id
    group by
        o.account_id,
        o.account_name,
        o.offset_link_id,
        o.currency
)

select * from final
