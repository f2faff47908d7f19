-- retirements_monthly
-- grain: one row per account x month of retirement (UTC) x currency
-- purpose: retired tonnes per month split by mechanism, net spend on those credits in that
--   currency, average net price per tonne, and running totals (SBTi BVCM budgets in tonnes
--   and money; monthly retirement history). Months come from credit_lines.retired_at:
--   estimated_date_tonnes says how much of the month rests on the created_at fallback.
with retired as (
    select * from {{ ref('credit_lines') }}
    where line_status = 'retired'
),

accounts as (
    select * from {{ ref('stg_lune__client_accounts') }}
),

monthly as (
    select
        account_id,
        cast(date_trunc('month', retired_at at time zone 'UTC') as date) as retirement_month,
        currency,
        sum(quantity_tonnes) as retired_tonnes,
        sum(case when mechanism = 'removal' then quantity_tonnes else 0 end) as removal_tonnes,
        sum(case when mechanism = 'reduction' then quantity_tonnes else 0 end)
            as reduction_tonnes,
        sum(case when mechanism = 'mixed' then quantity_tonnes else 0 end) as mixed_tonnes,
        sum(case when mechanism = 'unclassified' then quantity_tonnes else 0 end)
            as unclassified_tonnes,
        sum(case when retired_at_is_estimate then quantity_tonnes else 0 end)
            as estimated_date_tonnes,
        sum(net_cost) as net_spend
    from retired
    group by
        account_id,
        cast(date_trunc('month', retired_at at time zone 'UTC') as date),
        currency
),

final as (
    select
        m.account_id,
        a.account_name,
        m.retirement_month,
        m.currency,
        m.retired_tonnes,
        m.removal_tonnes,
        m.reduction_tonnes,
        m.mixed_tonnes,
        m.unclassified_tonnes,
        m.estimated_date_tonnes,
        m.net_spend,
        cast(round(m.net_spend / nullif(m.retired_tonnes, 0), 6) as numeric(38,6))
            as average_net_price_per_tonne,
        -- tonnes add up across currencies; the range frame takes every currency of the month
        sum(m.retired_tonnes) over (
            partition by m.account_id
            order by m.retirement_month
            range between unbounded preceding and current row
        ) as cumulative_retired_tonnes,
        sum(m.net_spend) over (
            partition by m.account_id, m.currency
            order by m.retirement_month
            rows between unbounded preceding and current row
        ) as cumulative_net_spend
    from monthly as m
    left join accounts as a
        on a.account_id = m.account_id
)

select * from final
