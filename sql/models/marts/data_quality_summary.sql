-- data_quality_summary
-- grain: one row per account x issue kind (account_id, issue); each kind has one severity
-- purpose: how many conditions of each kind data_quality_issues lists for an account, with
--   their severity and the tonnes they affect (money is left out: it is in several
--   currencies; see data_quality_issues). An account with none has no row.
with issues as (
    select * from {{ ref('data_quality_issues') }}
),

final as (
    select
        account_id,
        account_name,
        issue,
        severity,
        cast(count(*) as bigint) as issue_count,
        sum(affected_tonnes) as affected_tonnes
    from issues
    group by
        account_id,
        account_name,
        issue,
        severity
)

select * from final
