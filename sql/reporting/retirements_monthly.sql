-- grain: one row per account x month of retirement x currency
-- purpose: retired tonnes per month, split removal / reduction, spend (net, in that currency),
--   average net price per tonne and cumulative retired tonnes per account
with retired as (
    select * from {dataset}.credit_lines
    where line_status = 'retired'
),

monthly as (
    select
        account_id,
        cast(date_trunc('month', retired_at) as date) as retirement_month,
        currency,
        sum(quantity_tonnes) as retired_tonnes,
        sum(case when mechanism = 'removal' then quantity_tonnes else 0 end) as removal_tonnes,
        sum(case when mechanism = 'reduction' then quantity_tonnes else 0 end) as reduction_tonnes,
        sum(case when retired_at_is_estimate then quantity_tonnes else 0 end)
            as tonnes_with_estimated_date,
        sum(net_cost) as net_spend
    from retired
    group by account_id, cast(date_trunc('month', retired_at) as date), currency
),

final as (
    select
        account_id,
        retirement_month,
        currency,
        retired_tonnes,
        removal_tonnes,
        reduction_tonnes,
        tonnes_with_estimated_date,
        net_spend,
        net_spend / nullif(retired_tonnes, 0) as average_net_price_per_tonne,
        sum(retired_tonnes) over (
            partition by account_id, currency
            order by retirement_month
            rows between unbounded preceding and current row
        ) as cumulative_retired_tonnes
    from monthly
)

select * from final
