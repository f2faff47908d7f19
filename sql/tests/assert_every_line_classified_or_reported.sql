-- Every credit line has a mechanism; a line no source could classify is counted as
-- 'unclassified' (never dropped) and, unless its order is voided, its project is listed in
-- data_quality_issues for an analyst to map.
{{ config(severity='error') }}

with lines as (
    select * from {{ ref('credit_lines') }}
),

reported as (
    select * from {{ ref('data_quality_issues') }}
    where issue = 'unmapped_project_type'
)

select
    lines.account_id,
    lines.order_id,
    lines.line_idx,
    lines.mechanism
from lines
left join reported
    on reported.account_id = lines.account_id
    and coalesce(reported.project_id, '') = coalesce(lines.project_id, '')
    and coalesce(reported.currency, '') = coalesce(lines.currency, '')
where lines.mechanism is null
    or lines.mechanism not in ('removal', 'reduction', 'mixed', 'unclassified')
    or (
        lines.mechanism = 'unclassified'
        and not lines.is_void_order
        and reported.issue is null
    )
