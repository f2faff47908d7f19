-- grain: one row per problem found (issue, account_id, order_id, detail)
-- purpose: what an analyst should look at before trusting the figures
with orders as (
    select * from {dataset}.order_details
),

line_sums as (
    select
        account_id,
        order_id,
        sum(quantity_tonnes) as line_tonnes
    from {dataset}.stg_lune__order_projects
    group by account_id, order_id
),

unmapped as (
    select distinct
        'unmapped_project_type' as issue,
        account_id,
        order_id,
        'project type ' || coalesce(project_type, '(none)') || ' has no mechanism' as detail
    from {dataset}.credit_lines
    where mechanism_source = 'unmapped'
),

quantity_mismatch as (
    select
        'order_quantity_differs_from_lines' as issue,
        o.account_id,
        o.order_id,
        'order ' || cast(o.delivered_tonnes as text) || ' t, project lines '
            || cast(s.line_tonnes as text) || ' t' as detail
    from orders as o
    inner join line_sums as s on s.account_id = o.account_id and s.order_id = o.order_id
    where o.delivered_tonnes <> s.line_tonnes
),

complete_unretired as (
    select
        'complete_order_with_unretired_lines' as issue,
        account_id,
        order_id,
        cast(allocated_tonnes as text) || ' t still allocated' as detail
    from orders
    where status = 'complete' and allocated_tonnes > 0
),

cancelled_with_cost as (
    select
        'cancelled_order_with_cost' as issue,
        account_id,
        order_id,
        currency || ' ' || cast(gross_cost as text) as detail
    from orders
    where status in ('cancelled', 'failed') and coalesce(gross_cost, 0) > 0
),

estimated_dates as (
    select
        'retirement_date_estimated' as issue,
        account_id,
        order_id,
        'retired before the loader first saw it; retired_at is the order date' as detail
    from {dataset}.certificate_register
    where retired_at_is_estimate
),

quarantined as (
    select
        'quarantined_record' as issue,
        account_id,
        record_id as order_id,
        reason as detail
    from {dataset}.quarantined_records
),

final as (
    select * from unmapped
    union all
    select * from quantity_mismatch
    union all
    select * from complete_unretired
    union all
    select * from cancelled_with_cost
    union all
    select * from estimated_dates
    union all
    select * from quarantined
)

select * from final
