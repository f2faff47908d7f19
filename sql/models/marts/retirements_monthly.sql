-- retirements_monthly
-- grain: one row per account x calendar month of retirement (UTC) x currency
--   (account_id, retirement_month, currency)
-- purpose: retired tonnes per month split by mechanism, the net cost of those credits in that
--   currency, their average net price per tonne, and running totals (monthly retirement
--   history; SBTi BVCM tonnes). Months come from credit_lines.retired_at:
--   fallback_dated_tonnes says how much of the month rests on the created_at fallback. Lines
--   of voided orders count toward nothing.
with retired as (
    select * from {{ ref('credit_lines') }}
    where is_retired
        and not is_void_order
),

monthly as (
    select
        account_id,
        account_name,
        cast({{ dbt.date_trunc('month', "retired_at at time zone 'UTC'") }} as date)
            as retirement_month,
        currency,
        sum(quantity_tonnes) as retired_tonnes,
        sum(case when mechanism = 'removal' then quantity_tonnes else 0 end) as removal_tonnes,
        sum(case when mechanism = 'reduction' then quantity_tonnes else 0 end)
            as reduction_tonnes,
        sum(case when mechanism = 'mixed' then quantity_tonnes else 0 end) as mixed_tonnes,
        sum(case when mechanism = 'unclassified' then quantity_tonnes else 0 end)
            as unclassified_tonnes,
        sum(case when retired_at_is_estimate then quantity_tonnes else 0 end)
            as fallback_dated_tonnes,
        sum(net_cost) as retired_net_cost
    from retired
    group by
        account_id,
        account_name,
        cast({{ dbt.date_trunc('month', "retired_at at time zone 'UTC'") }} as date),
        currency
),

final as (
    select
        account_id,
        account_name,
        retirement_month,
        currency,
        retired_tonnes,
        removal_tonnes,
        reduction_tonnes,
        mixed_tonnes,
        unclassified_tonnes,
        fallback_dated_tonnes,
        retired_net_cost,
        cast(round(retired_net_cost / nullif(retired_tonnes, 0), 6) as numeric(38,6))
            as average_net_price_per_tonne,
        -- tonnes add up across currencies; the range frame takes every currency of the month
        sum(retired_tonnes) over (
            partition by account_id
            order by retirement_month
            range between unbounded preceding and current row
        ) as cumulative_retired_tonnes,
        sum(retired_net_cost) over (
            partition by account_id, currency
            order by retirement_month
            rows between unbounded preceding and current row
        ) as cumulative_retired_net_cost
    from monthly
)

select * from final
