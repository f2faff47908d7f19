-- Per account, the retired tonnes of esrs_e1_7_summary over all years, of
-- esrs_e1_7_registry_shares, of retirements_monthly and of certificate_register all equal the
-- retired lines of orders that are not voided in credit_lines; and the organisation rollup
-- equals the sum of the accounts for each year. Returns what differs.
{{ config(severity='error') }}

with lines as (
    select
        account_id,
        sum(quantity_tonnes) as retired_tonnes
    from {{ ref('credit_lines') }}
    where is_retired
        and not is_void_order
    group by account_id
),

marts as (
    select 'esrs_e1_7_summary' as mart, account_id, sum(retired_tonnes) as retired_tonnes
    from {{ ref('esrs_e1_7_summary') }}
    group by account_id
    union all
    select 'esrs_e1_7_registry_shares' as mart, account_id, sum(retired_tonnes) as retired_tonnes
    from {{ ref('esrs_e1_7_registry_shares') }}
    group by account_id
    union all
    select 'retirements_monthly' as mart, account_id, sum(retired_tonnes) as retired_tonnes
    from {{ ref('retirements_monthly') }}
    group by account_id
    union all
    select 'certificate_register' as mart, account_id, sum(retired_tonnes) as retired_tonnes
    from {{ ref('certificate_register') }}
    group by account_id
),

per_account_mismatch as (
    select
        marts.mart,
        marts.account_id,
        cast(null as integer) as reporting_year,
        marts.retired_tonnes as mart_tonnes,
        lines.retired_tonnes as expected_tonnes
    from marts
    left join lines
        on lines.account_id = marts.account_id
    where marts.retired_tonnes <> coalesce(lines.retired_tonnes, 0)
    union all
    select
        'esrs_e1_7_summary' as mart,
        lines.account_id,
        cast(null as integer) as reporting_year,
        cast(null as numeric(38,9)) as mart_tonnes,
        lines.retired_tonnes as expected_tonnes
    from lines
    where lines.retired_tonnes > 0
        and lines.account_id not in (select account_id from {{ ref('esrs_e1_7_summary') }})
),

organisation_mismatch as (
    select
        'esrs_e1_7_summary_organisation' as mart,
        cast(null as {{ dbt.type_string() }}) as account_id,
        org.reporting_year,
        org.retired_tonnes as mart_tonnes,
        accounts.retired_tonnes as expected_tonnes
    from {{ ref('esrs_e1_7_summary_organisation') }} as org
    left join (
        select
            reporting_year,
            sum(retired_tonnes) as retired_tonnes
        from {{ ref('esrs_e1_7_summary') }}
        group by reporting_year
    ) as accounts
        on accounts.reporting_year = org.reporting_year
    where org.retired_tonnes is distinct from accounts.retired_tonnes
)

select * from per_account_mismatch
union all
select * from organisation_mismatch
