-- data_quality_summary counts exactly the rows of data_quality_issues, per account and kind.
{{ config(severity='error') }}

with issues as (
    select
        account_id,
        issue,
        count(*) as issue_count
    from {{ ref('data_quality_issues') }}
    group by
        account_id,
        issue
),

summary as (
    select * from {{ ref('data_quality_summary') }}
)

select
    coalesce(issues.account_id, summary.account_id) as account_id,
    coalesce(issues.issue, summary.issue) as issue,
    issues.issue_count as listed,
    summary.issue_count as counted
from issues
full outer join summary
    on coalesce(summary.account_id, '') = coalesce(issues.account_id, '')
    and summary.issue = issues.issue
where issues.issue_count is distinct from summary.issue_count
