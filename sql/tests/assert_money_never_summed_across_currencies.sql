-- Every money figure of a mart is a sum over lines or orders of one currency: recomputed here
-- per currency from credit_lines and order_details, any group whose figure differs (a sum over
-- two currencies, or a currency dropped from the grain) is returned. Each side is tagged and
-- grouped rather than full-joined, so null keys (an order without currency) compare equal.
{{ config(severity='error') }}

with lines as (
    select * from {{ ref('credit_lines') }}
),

orders as (
    select * from {{ ref('order_details') }}
),

compared as (
    select
        'retirements_monthly' as mart,
        account_id,
        cast(retirement_month as {{ dbt.type_string() }}) as group_key,
        currency,
        retired_net_cost as mart_amount,
        0 as expected_amount,
        1 as mart_rows
    from {{ ref('retirements_monthly') }}
    union all
    select
        'retirements_monthly' as mart,
        account_id,
        cast(
            cast({{ dbt.date_trunc('month', "retired_at at time zone 'UTC'") }} as date)
            as {{ dbt.type_string() }}
        ) as group_key,
        currency,
        0 as mart_amount,
        net_cost as expected_amount,
        0 as mart_rows
    from lines
    where is_retired
        and not is_void_order

    union all
    select
        'customer_overview' as mart,
        account_id,
        customer_id as group_key,
        currency,
        net_spend + gross_spend as mart_amount,
        0 as expected_amount,
        1 as mart_rows
    from {{ ref('customer_overview') }}
    union all
    select
        'customer_overview' as mart,
        account_id,
        customer_id as group_key,
        currency,
        0 as mart_amount,
        case when is_void then 0 else coalesce(net_cost, 0) + coalesce(gross_cost, 0) end
            as expected_amount,
        0 as mart_rows
    from orders

    union all
    select
        'portfolio_mix' as mart,
        account_id,
        'all' as group_key,
        currency,
        net_cost as mart_amount,
        0 as expected_amount,
        0 as mart_rows
    from {{ ref('portfolio_mix') }}
    union all
    select
        'portfolio_mix' as mart,
        account_id,
        'all' as group_key,
        currency,
        0 as mart_amount,
        net_cost as expected_amount,
        0 as mart_rows
    from lines
    where not is_void_order

    union all
    select
        'purchase_spend_monthly' as mart,
        account_id,
        cast(purchase_month as {{ dbt.type_string() }}) as group_key,
        currency,
        net_spend + commission + gross_spend as mart_amount,
        0 as expected_amount,
        1 as mart_rows
    from {{ ref('purchase_spend_monthly') }}
    union all
    select
        'purchase_spend_monthly' as mart,
        account_id,
        cast(
            cast({{ dbt.date_trunc('month', "created_at at time zone 'UTC'") }} as date)
            as {{ dbt.type_string() }}
        ) as group_key,
        currency,
        0 as mart_amount,
        coalesce(net_cost, 0) + coalesce(commission, 0) + coalesce(gross_cost, 0)
            as expected_amount,
        0 as mart_rows
    from orders
    where not is_void

    union all
    select
        'offset_link_sales' as mart,
        account_id,
        offset_link_id as group_key,
        currency,
        net_spend + commission + gross_spend as mart_amount,
        0 as expected_amount,
        1 as mart_rows
    from {{ ref('offset_link_sales') }}
    union all
    select
        'offset_link_sales' as mart,
        account_id,
        offset_link_id as group_key,
        currency,
        0 as mart_amount,
        coalesce(net_cost, 0) + coalesce(commission, 0) + coalesce(gross_cost, 0)
            as expected_amount,
        0 as mart_rows
    from orders
    where not is_void
        and offset_link_id is not null
),

final as (
    select
        mart,
        account_id,
        group_key,
        currency,
        sum(mart_amount) as mart_amount,
        sum(expected_amount) as expected_amount,
        sum(mart_rows) as mart_rows
    from compared
    group by
        mart,
        account_id,
        group_key,
        currency
    having sum(mart_amount) <> sum(expected_amount)
        or sum(mart_rows) > 1
)

select * from final
