-- data_quality_issues
-- grain: one row per condition to act on (issue, account_id, order_id, project_id,
--   reporting_year, currency); order_id, project_id and reporting_year are set where the
--   condition concerns one order, one project or one reporting year, else null
-- purpose: what to look at before trusting or disclosing the figures, each with what it
--   affects (tonnes, and money in its currency) and what to do. severity: error = a figure is
--   wrong or incomplete until fixed; warning = a figure rests on an assumption or a gap to
--   close before disclosing; info = nothing is wrong, but the figures chose a rule worth
--   knowing. data_quality_summary counts them per account.
{%- set text = dbt.type_string() %}

with lines as (
    select * from {{ ref('credit_lines') }}
),

orders as (
    select * from {{ ref('order_details') }}
),

open_orders as (
    select * from {{ ref('open_commitments') }}
),

quarantined as (
    select * from {{ ref('stg_lune__quarantined_records') }}
),

accounts as (
    select * from {{ ref('stg_lune__client_accounts') }}
),

counted_lines as (
    select * from lines
    where not is_void_order
),

voided_with_retired_lines as (
    select
        'voided_order_with_retired_lines' as issue,
        'error' as severity,
        account_id,
        order_id,
        cast(null as {{ text }}) as project_id,
        cast(null as integer) as reporting_year,
        sum(quantity_tonnes) as affected_tonnes,
        sum(net_cost) as affected_amount,
        currency,
        max(order_status) || ' order with ' || cast(sum(quantity_tonnes) as {{ text }})
            || ' t of retired credits' as detail,
        'Ask Lune why credits were retired for a voided order; until it is resolved these '
            || 'tonnes count toward no figure.' as action
    from lines
    where is_void_order
        and is_retired
    group by
        account_id,
        order_id,
        currency
),

quantity_mismatch as (
    select
        'order_quantity_differs_from_lines' as issue,
        'error' as severity,
        account_id,
        order_id,
        cast(null as {{ text }}) as project_id,
        cast(null as integer) as reporting_year,
        abs(coalesce(delivered_tonnes, 0) - line_tonnes) as affected_tonnes,
        cast(null as numeric(38,9)) as affected_amount,
        currency,
        'order ' || coalesce(cast(delivered_tonnes as {{ text }}), '(none)') || ' t, project lines '
            || cast(line_tonnes as {{ text }}) || ' t' as detail,
        'Ask Lune to correct the order''s project lines; every tonnes figure uses the lines.'
            as action
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
        cast(null as {{ text }}) as project_id,
        cast(null as integer) as reporting_year,
        line_tonnes - retired_tonnes as affected_tonnes,
        cast(null as numeric(38,9)) as affected_amount,
        currency,
        cast(unretired_line_count as {{ text }}) || ' line(s) not retired, '
            || cast(line_tonnes - retired_tonnes as {{ text }}) || ' t' as detail,
        'Ask Lune to retire the remaining lines or correct the order; they are not counted as '
            || 'retired.' as action
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
        cast(null as {{ text }}) as project_id,
        cast(null as integer) as reporting_year,
        delivered_tonnes as affected_tonnes,
        gross_cost as affected_amount,
        currency,
        'complete order with no project lines' as detail,
        'Ask Lune which projects retired this order''s credits; until then its tonnes are in '
            || 'no retirement figure.' as action
    from orders
    where status = 'complete'
        and project_line_count = 0
),

quarantined_records as (
    select
        'quarantined_record' as issue,
        'error' as severity,
        account_id,
        record_id as order_id,
        cast(null as {{ text }}) as project_id,
        cast(null as integer) as reporting_year,
        cast(null as numeric(38,9)) as affected_tonnes,
        cast(null as numeric(38,9)) as affected_amount,
        cast(null as {{ text }}) as currency,
        coalesce(endpoint, '') || ': ' || coalesce(reason, '') as detail,
        'The loader set this record aside (quarantined_records holds it): report it to Lune; '
            || 'it loads on the first run after Lune serves it correctly.' as action
    from quarantined
),

vanished_orders as (
    select
        'vanished_open_order' as issue,
        'warning' as severity,
        account_id,
        order_id,
        cast(null as {{ text }}) as project_id,
        cast(null as integer) as reporting_year,
        greatest(coalesce(contracted_tonnes, 0) - retired_tonnes, 0) as affected_tonnes,
        gross_cost as affected_amount,
        currency,
        status || ' order no longer returned by the API since '
            || cast(cast(vanished_at as date) as {{ text }}) as detail,
        'Ask Lune whether the order was cancelled; it is left out of open commitments and '
            || 'planned retirements.' as action
    from orders
    where is_vanished
),

overdue_orders as (
    select
        'open_order_overdue' as issue,
        'warning' as severity,
        account_id,
        order_id,
        cast(null as {{ text }}) as project_id,
        cast(null as integer) as reporting_year,
        outstanding_tonnes as affected_tonnes,
        gross_cost as affected_amount,
        currency,
        status || ' for ' || cast(age_days as {{ text }}) || ' days (more than '
            || '{{ open_order_max_days() }})' as detail,
        'Ask Lune when the order will be filled and retired.' as action
    from open_orders
    where is_overdue
),

insufficient_inventory as (
    select
        'insufficient_inventory' as issue,
        'warning' as severity,
        account_id,
        order_id,
        cast(null as {{ text }}) as project_id,
        cast(null as integer) as reporting_year,
        insufficient_inventory_tonnes as affected_tonnes,
        cast(null as numeric(38,9)) as affected_amount,
        currency,
        'Lune lacks inventory for ' || cast(insufficient_inventory_tonnes as {{ text }})
            || ' t of bundle ' || coalesce(bundle_names, '(unknown)') as detail,
        'Expect a delay, or ask Lune to move the order to a bundle with inventory.' as action
    from open_orders
    where has_insufficient_inventory
),

-- ISO 14068-1 §11: retire within 12 months of the end of the period the credits were bought
-- for, taken as the reporting year the order was placed in. Two conditions with their own
-- action, so an order still retiring can have both rows: credits retired late (told only
-- where the retirement date is known: an event or a witnessed move) and credits still not
-- retired past the deadline.
late_retirements as (
    select
        'retired_after_12_months' as issue,
        'warning' as severity,
        account_id,
        order_id,
        cast(null as {{ text }}) as project_id,
        order_reporting_year as reporting_year,
        sum(quantity_tonnes) as affected_tonnes,
        sum(net_cost) as affected_amount,
        currency,
        'retired ' || cast(cast(max(retired_at) as date) as {{ text }})
            || ', more than 12 months after the end of the reporting year it was bought in'
            as detail,
        'ISO 14068-1 expects retirement within 12 months of the period: do not claim these '
            || 'credits for that period.' as action
    from counted_lines
    where is_retired
        and not retired_at_is_estimate
        and retired_at >= {{ period_end_exclusive('order_reporting_year + 1') }}
    group by
        account_id,
        order_id,
        order_reporting_year,
        currency
),

overdue_retirements as (
    select
        'not_retired_within_12_months' as issue,
        'warning' as severity,
        account_id,
        order_id,
        cast(null as {{ text }}) as project_id,
        order_reporting_year as reporting_year,
        outstanding_tonnes as affected_tonnes,
        gross_cost as affected_amount,
        currency,
        'still ' || status || ' more than 12 months after the end of the reporting year it was '
            || 'bought in' as detail,
        'ISO 14068-1 expects retirement within 12 months of the period: chase Lune, and do not '
            || 'claim these credits for that period.' as action
    from open_orders
    where current_timestamp >= {{ period_end_exclusive('order_reporting_year + 1') }}
),

fallback_dated as (
    select
        'retirement_dates_estimated' as issue,
        'warning' as severity,
        account_id,
        cast(null as {{ text }}) as order_id,
        cast(null as {{ text }}) as project_id,
        reporting_year,
        sum(quantity_tonnes) as affected_tonnes,
        sum(net_cost) as affected_amount,
        currency,
        cast(count(distinct order_id) as {{ text }}) || ' order(s) were first seen already '
            || 'retired: their retirement is dated by order creation, and may belong to a later '
            || 'year' as detail,
        'Check the retirement dates on the certificates (certificate_register, '
            || 'retired_at_is_estimate) before disclosing this year''s figures.' as action
    from counted_lines
    where is_retired
        and retired_at_is_estimate
    group by
        account_id,
        reporting_year,
        currency
),

unmapped_project_types as (
    select
        'unmapped_project_type' as issue,
        'warning' as severity,
        account_id,
        cast(null as {{ text }}) as order_id,
        project_id,
        cast(null as integer) as reporting_year,
        sum(quantity_tonnes) as affected_tonnes,
        sum(net_cost) as affected_amount,
        currency,
        'project type ''' || coalesce(max(project_type), '(none)') || ''' is in no classifying '
            || 'bundle and not in the mechanism seed: counted as unclassified' as detail,
        'Add the project type to sql/seeds/project_type_mechanisms.csv (removal or reduction).'
            as action
    from counted_lines
    where mechanism = 'unclassified'
    group by
        account_id,
        project_id,
        currency
),

mixed_project_types as (
    select
        'mixed_project_type' as issue,
        'info' as severity,
        account_id,
        cast(null as {{ text }}) as order_id,
        project_id,
        cast(null as integer) as reporting_year,
        sum(quantity_tonnes) as affected_tonnes,
        sum(net_cost) as affected_amount,
        currency,
        'project type ''' || max(project_type) || ''' is removal or reduction depending on '
            || 'methodology: reported as mixed' as detail,
        'If the disclosure needs removal vs reduction, classify it by methodology in the '
            || 'mechanism seed.' as action
    from counted_lines
    where mechanism = 'mixed'
    group by
        account_id,
        project_id,
        currency
),

mechanism_conflicts as (
    select
        'mechanism_conflict' as issue,
        'info' as severity,
        account_id,
        cast(null as {{ text }}) as order_id,
        project_id,
        cast(null as integer) as reporting_year,
        sum(quantity_tonnes) as affected_tonnes,
        sum(net_cost) as affected_amount,
        currency,
        'bundle ' || coalesce(max(bundle_name), max(bundle_id)) || ' says '
            || max(bundle_mechanism) || ', the project-type seed says ' || max(seed_mechanism)
            as detail,
        'Nothing to fix: Lune''s bundle classification is used.' as action
    from counted_lines
    where bundle_mechanism is not null
        and seed_mechanism in ('removal', 'reduction')
        and seed_mechanism <> bundle_mechanism
    group by
        account_id,
        project_id,
        currency
),

projects_not_in_catalogue as (
    select
        'project_not_in_catalogue' as issue,
        'warning' as severity,
        account_id,
        cast(null as {{ text }}) as order_id,
        project_id,
        cast(null as integer) as reporting_year,
        sum(quantity_tonnes) as affected_tonnes,
        sum(net_cost) as affected_amount,
        currency,
        'project ' || coalesce(project_id, '(no id)') || ' is not in the projects catalogue: '
            || 'registry and host country unknown' as detail,
        'Ask Lune for the project''s registry and country; its tonnes count as Unknown project '
            || 'and unknown host.' as action
    from counted_lines
    where not is_catalogued_project
    group by
        account_id,
        project_id,
        currency
),

unknown_host_countries as (
    select
        'host_country_unknown' as issue,
        'warning' as severity,
        account_id,
        cast(null as {{ text }}) as order_id,
        project_id,
        cast(null as integer) as reporting_year,
        sum(quantity_tonnes) as affected_tonnes,
        sum(net_cost) as affected_amount,
        currency,
        'catalogued project ' || project_id || ' has no host country' as detail,
        'Its tonnes count in unknown_host_tonnes, not in the EU share: ask Lune for the '
            || 'country.' as action
    from counted_lines
    where is_catalogued_project
        and country_code is null
    group by
        account_id,
        project_id,
        currency
),

complete_without_certificate as (
    select
        'complete_order_without_certificate' as issue,
        'warning' as severity,
        account_id,
        order_id,
        cast(null as {{ text }}) as project_id,
        cast(null as integer) as reporting_year,
        retired_tonnes as affected_tonnes,
        cast(null as numeric(38,9)) as affected_amount,
        currency,
        'complete order without a certificate URL' as detail,
        'Download the certificate from Lune''s dashboard to keep as evidence.' as action
    from orders
    where status = 'complete'
        and certificate_url is null
),

voided_with_cost as (
    select
        'voided_orders_with_cost' as issue,
        'info' as severity,
        account_id,
        cast(null as {{ text }}) as order_id,
        cast(null as {{ text }}) as project_id,
        cast(null as integer) as reporting_year,
        cast(null as numeric(38,9)) as affected_tonnes,
        sum(coalesce(gross_cost, net_cost)) as affected_amount,
        currency,
        cast(count(*) as {{ text }}) || ' cancelled or failed order(s) keep the cost they had '
            || 'when placed' as detail,
        'Nothing to fix: voided orders count toward no spend figure; check refunds with Lune '
            || 'if needed.' as action
    from orders
    where is_void
        and (coalesce(gross_cost, 0) > 0 or coalesce(net_cost, 0) > 0)
    group by
        account_id,
        currency
),

unknown_statuses as (
    select
        'unknown_order_status' as issue,
        'warning' as severity,
        account_id,
        order_id,
        cast(null as {{ text }}) as project_id,
        cast(null as integer) as reporting_year,
        unretired_tonnes as affected_tonnes,
        gross_cost as affected_amount,
        currency,
        'status ''' || coalesce(status, '(none)')
            || ''' is not a documented Lune status: treated as open' as detail,
        'Check the order in Lune''s dashboard; if the status is terminal, tell us so the '
            || 'pipeline learns it.' as action
    from orders
    where status is null
        or status not in (
            'received', 'placed', 'paid', 'retiring', 'complete', 'cancelled', 'failed'
        )
),

issues as (
    select * from voided_with_retired_lines
    union all
    select * from quantity_mismatch
    union all
    select * from complete_with_unretired_lines
    union all
    select * from complete_without_lines
    union all
    select * from quarantined_records
    union all
    select * from vanished_orders
    union all
    select * from overdue_orders
    union all
    select * from insufficient_inventory
    union all
    select * from late_retirements
    union all
    select * from overdue_retirements
    union all
    select * from fallback_dated
    union all
    select * from unmapped_project_types
    union all
    select * from mixed_project_types
    union all
    select * from mechanism_conflicts
    union all
    select * from projects_not_in_catalogue
    union all
    select * from unknown_host_countries
    union all
    select * from complete_without_certificate
    union all
    select * from voided_with_cost
    union all
    select * from unknown_statuses
),

final as (
    select
        i.issue,
        i.severity,
        i.account_id,
        a.account_name,
        i.order_id,
        i.project_id,
        i.reporting_year,
        i.affected_tonnes,
        i.affected_amount,
        i.currency,
        i.detail,
        i.action
    from issues as i
    left join accounts as a
        on a.account_id = i.account_id
)

select * from final
