-- accounts
-- grain: one row per Lune account the pipeline loads (account_id), with or without orders
-- purpose: the reporting entities. Every account the API key reads: its name, currency,
--   scope and beneficiary, and its orders that are not voided (how many, the first and the
--   last). An account that never ordered has a row here (order_count 0) and none in the
--   marts that report tonnes, shares or money: the report says so rather than leaving it out.
with accounts as (
    select * from {{ ref('stg_lune__client_accounts') }}
),

orders as (
    select * from {{ ref('order_details') }}
    where not is_void
),

order_totals as (
    select
        account_id,
        cast(count(*) as bigint) as order_count,
        min(created_at) as first_order_at,
        max(created_at) as last_order_at
    from orders
    group by account_id
),

final as (
    select
        a.account_id,
        a.account_name,
        a.account_currency,
        a.account_scope,
        a.beneficiary,
        coalesce(t.order_count, 0) as order_count,
        t.first_order_at,
        t.last_order_at
    from accounts as a
    left join order_totals as t
        on t.account_id = a.account_id
)

select * from final
