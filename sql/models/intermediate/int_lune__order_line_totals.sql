-- int_lune__order_line_totals
-- grain: one row per order with project lines (account_id, order_id)
-- purpose: tonnes per order summed from its project lines, split by line status
with lines as (
    select * from {{ ref('stg_lune__order_projects') }}
),

final as (
    select
        account_id,
        order_id,
        count(*) as project_line_count,
        cast(sum(case when line_status = 'retired' then 0 else 1 end) as bigint)
            as unretired_line_count,
        sum(quantity_tonnes) as line_tonnes,
        sum(case when line_status = 'retired' then quantity_tonnes else 0 end) as retired_tonnes,
        sum(case when line_status = 'allocated' then quantity_tonnes else 0 end)
            as allocated_tonnes
    from lines
    group by
        account_id,
        order_id
)

select * from final
