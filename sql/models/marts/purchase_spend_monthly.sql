-- purchase_spend_monthly
-- grain: one row per account x calendar month of purchase (UTC) x currency (account_id,
--   purchase_month, currency), over orders that are not voided
-- purpose: what an account spent on carbon credits, by the month the orders were placed:
--   net (the credits), commission (Lune's fee), gross, tonnes bought and prices per tonne,
--   in that currency (SBTi BVCM money budgets). Distinct from the cost of credits retired
--   (retirements_monthly.retired_net_cost): a purchase counts when it is made. Value orders
--   Lune has not priced yet have no cost or tonnes: counted in unpriced_order_count.
with orders as (
    select * from {{ ref('order_details') }}
    where not is_void
),

monthly as (
    select
        account_id,
        account_name,
        cast({{ dbt.date_trunc('month', "created_at at time zone 'UTC'") }} as date)
            as purchase_month,
        currency,
        count(*) as order_count,
        sum(case when delivered_tonnes is null then 1 else 0 end) as unpriced_order_count,
        sum(coalesce(delivered_tonnes, 0)) as tonnes_bought,
        sum(coalesce(net_cost, 0)) as net_spend,
        sum(coalesce(commission, 0)) as commission,
        sum(coalesce(gross_cost, 0)) as gross_spend
    from orders
    group by
        account_id,
        account_name,
        cast({{ dbt.date_trunc('month', "created_at at time zone 'UTC'") }} as date),
        currency
),

final as (
    select
        account_id,
        account_name,
        purchase_month,
        {{ reporting_year_of_date('purchase_month') }} as reporting_year,
        currency,
        cast(order_count as bigint) as order_count,
        cast(unpriced_order_count as bigint) as unpriced_order_count,
        tonnes_bought,
        net_spend,
        commission,
        gross_spend,
        cast(round(net_spend / nullif(tonnes_bought, 0), 6) as numeric(38,6))
            as net_price_per_tonne,
        cast(round(gross_spend / nullif(tonnes_bought, 0), 6) as numeric(38,6))
            as gross_price_per_tonne
    from monthly
)

select * from final
