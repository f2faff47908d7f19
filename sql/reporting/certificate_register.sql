-- certificate_register
-- grain: one row per order with retired credits (account_id, order_id)
-- purpose: evidence per retirement (ISO 14068-1 §11, CDP C11.2a, ESRS E1-7 §59(a)):
--   certificate URLs, projects, registries and their links, host countries, tonnes retired,
--   their net cost in the order's currency, and when (retired_at, estimate flag).
with retired as (
    select * from {{ ref('credit_lines') }}
    where line_status = 'retired'
),

orders as (
    select * from {{ ref('order_details') }}
),

per_order as (
    select
        account_id,
        order_id,
        string_agg(distinct project_id, '; ' order by project_id) as project_ids,
        string_agg(distinct project_name, '; ' order by project_name) as project_names,
        string_agg(distinct registry_label, '; ' order by registry_label) as registries,
        string_agg(distinct registry_link, '; ' order by registry_link) as registry_links,
        string_agg(distinct country_code, '; ' order by country_code) as country_codes,
        sum(quantity_tonnes) as retired_tonnes,
        sum(net_cost) as retired_net_cost,
        max(retired_at) as retired_at,
        sum(case when retired_at_is_estimate then 1 else 0 end) > 0 as retired_at_is_estimate
    from retired
    group by
        account_id,
        order_id
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
        p.registries,
        p.registry_links,
        p.country_codes,
        p.retired_tonnes,
        o.currency,
        p.retired_net_cost,
        p.retired_at,
        p.retired_at_is_estimate,
        cast(extract(year from p.retired_at at time zone 'UTC') as integer) as reporting_year
    from per_order as p
    inner join orders as o
        on o.account_id = p.account_id
        and o.order_id = p.order_id
)

select * from final
