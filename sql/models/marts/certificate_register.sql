-- certificate_register
-- grain: one row per order with retired credits (account_id, order_id), voided orders left out
-- purpose: evidence per retirement (ISO 14068-1 §11, CDP C11.2a, ESRS E1-7 §59(a)):
--   certificate URLs, projects, registries and their links, host countries, tonnes retired,
--   their net cost in the order's currency, and when (retired_at, estimate flag, reporting
--   year and its period).
with retired as (
    select * from {{ ref('credit_lines') }}
    where is_retired
        and not is_void_order
),

orders as (
    select * from {{ ref('order_details') }}
),

per_order as (
    select
        account_id,
        order_id,
        {{ distinct_list('project_id') }} as project_ids,
        {{ distinct_list('project_name') }} as project_names,
        sum(quantity_tonnes) as retired_tonnes,
        sum(net_cost) as retired_net_cost,
        max(retired_at) as retired_at,
        sum(case when retired_at_is_estimate then 1 else 0 end) > 0 as retired_at_is_estimate
    from retired
    group by
        account_id,
        order_id
),

-- Registry, link and country are the catalogue's, so a function of the project: orders with
-- the same project set share them. Aggregating per set (a few thousand at 100,000 orders)
-- rather than per order halves the view's time on DuckDB.
project_set_members as (
    select distinct
        coalesce(p.project_ids, '') as project_set,
        r.registry_label,
        r.registry_link,
        r.country_code
    from per_order as p
    inner join retired as r
        on r.account_id = p.account_id
        and r.order_id = p.order_id
),

per_project_set as (
    select
        project_set,
        {{ distinct_list('registry_label') }} as registries,
        {{ distinct_list('registry_link') }} as registry_links,
        {{ distinct_list('country_code') }} as country_codes
    from project_set_members
    group by
        project_set
),

final as (
    select
        p.account_id,
        o.account_name,
        p.order_id,
        o.status,
        o.certificate_url,
        o.public_certificate_url,
        o.certificate_url is not null or o.public_certificate_url is not null
            as has_certificate,
        p.project_ids,
        p.project_names,
        ps.registries,
        ps.registry_links,
        ps.country_codes,
        p.retired_tonnes,
        o.currency,
        p.retired_net_cost,
        p.retired_at,
        p.retired_at_is_estimate,
        {{ reporting_year('p.retired_at') }} as reporting_year,
        {{ period_start(reporting_year('p.retired_at')) }} as period_start,
        {{ period_end(reporting_year('p.retired_at')) }} as period_end
    from per_order as p
    inner join per_project_set as ps
        on ps.project_set = coalesce(p.project_ids, '')
    inner join orders as o
        on o.account_id = p.account_id
        and o.order_id = p.order_id
)

select * from final
