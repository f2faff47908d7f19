-- data_quality_issues
-- grain: one row per problem found (issue, account_id, order_id, line_idx); line_idx is set
--   for problems of one project line, null for order-level ones
-- purpose: what to look at before trusting the figures. severity: error = the figures are
--   wrong or incomplete until fixed; warning = a figure rests on an assumption or a gap;
--   info = two sources disagree and the documented rule chose.
with lines as (
    select * from {{ ref('credit_lines') }}
),

orders as (
    select * from {{ ref('order_details') }}
),

certificates as (
    select * from {{ ref('certificate_register') }}
),

quarantined as (
    select * from {{ ref('stg_lune__quarantined_records') }}
),

unmapped_project_type as (
    select
        'unmapped_project_type' as issue,
        'warning' as severity,
        account_id,
        order_id,
        line_idx,
        'project type ''' || coalesce(project_type, '(none)')
            || ''' is in no classifying bundle and not in seed_project_type_mechanisms:'
            || ' counted as unclassified' as detail
    from lines
    where mechanism = 'unclassified'
),

mixed_project_type as (
    select
        'mixed_project_type' as issue,
        'warning' as severity,
        account_id,
        order_id,
        line_idx,
        'project type ''' || project_type
            || ''' is removal or reduction depending on methodology: counted as mixed'
            as detail
    from lines
    where mechanism = 'mixed'
),

mechanism_conflict as (
    select
        'mechanism_conflict' as issue,
        'info' as severity,
        account_id,
        order_id,
        line_idx,
        'bundle ' || coalesce(bundle_name, bundle_id) || ' says ' || bundle_mechanism
            || ', the project-type seed says ' || seed_mechanism || ': the bundle is used'
            as detail
    from lines
    where bundle_mechanism is not null
        and seed_mechanism in ('removal', 'reduction')
        and seed_mechanism <> bundle_mechanism
),

project_not_in_catalogue as (
    select
        'project_not_in_catalogue' as issue,
        'warning' as severity,
        account_id,
        order_id,
        line_idx,
        'project ' || coalesce(project_id, '(no id)')
            || ' is not in the projects catalogue: registry and host country unknown' as detail
    from lines
    where not is_catalogued_project
),

quantity_mismatch as (
    select
        'order_quantity_differs_from_lines' as issue,
        'error' as severity,
        account_id,
        order_id,
        cast(null as bigint) as line_idx,
        'order ' || coalesce(cast(delivered_tonnes as text), '(none)') || ' t, project lines '
            || cast(line_tonnes as text) || ' t' as detail
    from orders
    where project_line_count > 0
        and not is_void
        and (delivered_tonnes is null or delivered_tonnes <> line_tonnes)
),

complete_with_unretired_lines as (
    select
        'complete_order_with_unretired_lines' as issue,
        'error' as severity,
        account_id,
        order_id,
        cast(null as bigint) as line_idx,
        cast(unretired_line_count as text) || ' line(s) not retired, '
            || cast(line_tonnes - retired_tonnes as text) || ' t' as detail
    from orders
    where status = 'complete'
        and unretired_line_count > 0
),

complete_without_lines as (
    select
        'complete_order_without_lines' as issue,
        'error' as severity,
        account_id,
        order_id,
        cast(null as bigint) as line_idx,
        'complete order with no project lines: its tonnes are in no retirement figure'
            as detail
    from orders
    where status = 'complete'
        and project_line_count = 0
),

complete_without_certificate as (
    select
        'complete_order_without_certificate' as issue,
        'warning' as severity,
        account_id,
        order_id,
        cast(null as bigint) as line_idx,
        'complete order without a certificate URL: no evidence to attach' as detail
    from orders
    where status = 'complete'
        and certificate_url is null
),

cancelled_with_cost as (
    select
        'cancelled_order_with_cost' as issue,
        'error' as severity,
        account_id,
        order_id,
        cast(null as bigint) as line_idx,
        status || ' order with a cost of ' || coalesce(currency, '(no currency)') || ' '
            || cast(coalesce(gross_cost, net_cost) as text) as detail
    from orders
    where is_void
        and (coalesce(gross_cost, 0) > 0 or coalesce(net_cost, 0) > 0)
),

estimated_dates as (
    select
        'retired_at_estimated' as issue,
        'warning' as severity,
        account_id,
        order_id,
        cast(null as bigint) as line_idx,
        'no status change into complete / retiring was witnessed: retired_at is the order''s'
            || ' created_at and may fall in the wrong reporting year' as detail
    from certificates
    where retired_at_is_estimate
),

unknown_status as (
    select
        'unknown_order_status' as issue,
        'warning' as severity,
        account_id,
        order_id,
        cast(null as bigint) as line_idx,
        'status ''' || coalesce(status, '(none)')
            || ''' is not a known Lune status: treated as open' as detail
    from orders
    where status is null
        or status not in (
            'received', 'placed', 'paid', 'retiring', 'complete', 'cancelled', 'failed'
        )
),

quarantined_records as (
    select
        'quarantined_record' as issue,
        'error' as severity,
        account_id,
        record_id as order_id,
        cast(null as bigint) as line_idx,
        coalesce(endpoint, '') || ': ' || coalesce(reason, '') as detail
    from quarantined
),

final as (
    select * from unmapped_project_type
    union all
    select * from mixed_project_type
    union all
    select * from mechanism_conflict
    union all
    select * from project_not_in_catalogue
    union all
    select * from quantity_mismatch
    union all
    select * from complete_with_unretired_lines
    union all
    select * from complete_without_lines
    union all
    select * from complete_without_certificate
    union all
    select * from cancelled_with_cost
    union all
    select * from estimated_dates
    union all
    select * from unknown_status
    union all
    select * from quarantined_records
)

select * from final
