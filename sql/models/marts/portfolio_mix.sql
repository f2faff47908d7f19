-- portfolio_mix
-- grain: one row per account x project type x mechanism x removal sink x permanence x
--   registry x host country x bundle x currency, over the lines of orders that are not voided
-- purpose: what an account's portfolio is made of (Lune's analytics by bundle, registry,
--   country, offset type; CDP C11.2a project types): contracted, retired and allocated tonnes
--   and the net cost of the lines in that currency. project_type_key is the normalised
--   (lower-case, trimmed) project type, as in credit_lines.
with lines as (
    select * from {{ ref('credit_lines') }}
    where not is_void_order
),

final as (
    select
        account_id,
        account_name,
        project_type_key,
        mechanism,
        removal_sink,
        carbon_permanence,
        registry_label,
        country_code,
        is_eu_host,
        bundle_name,
        currency,
        sum(quantity_tonnes) as contracted_tonnes,
        sum(case when is_retired then quantity_tonnes else 0 end) as retired_tonnes,
        sum(case when line_status = 'allocated' then quantity_tonnes else 0 end)
            as allocated_tonnes,
        sum(net_cost) as net_cost,
        sum(case when is_retired then net_cost else 0 end) as retired_net_cost,
        count(distinct order_id) as order_count,
        count(*) as line_count
    from lines
    group by
        account_id,
        account_name,
        project_type_key,
        mechanism,
        removal_sink,
        carbon_permanence,
        registry_label,
        country_code,
        is_eu_host,
        bundle_name,
        currency
)

select * from final
