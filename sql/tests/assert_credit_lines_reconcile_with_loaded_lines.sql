-- credit_lines holds every loaded project line exactly once: per account, its line count and
-- its retired tonnes equal those of the loaded orders__projects table. A fan-out join in
-- credit_lines (or a line lost by an inner join) returns the accounts that differ.
{{ config(severity='error') }}

with loaded as (
    select
        account_id,
        count(*) as line_count,
        sum(case when status = 'retired' then quantity else 0 end) as retired_tonnes
    from {{ lune_source('orders__projects') }}
    group by account_id
),

modelled as (
    select
        account_id,
        count(*) as line_count,
        sum(case when is_retired then quantity_tonnes else 0 end) as retired_tonnes
    from {{ ref('credit_lines') }}
    group by account_id
)

select
    coalesce(loaded.account_id, modelled.account_id) as account_id,
    loaded.line_count as loaded_line_count,
    modelled.line_count as modelled_line_count,
    loaded.retired_tonnes as loaded_retired_tonnes,
    modelled.retired_tonnes as modelled_retired_tonnes
from loaded
full outer join modelled
    on modelled.account_id = loaded.account_id
where loaded.line_count is distinct from modelled.line_count
    or loaded.retired_tonnes is distinct from modelled.retired_tonnes
