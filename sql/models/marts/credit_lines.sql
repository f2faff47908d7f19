-- credit_lines
-- grain: one row per order x project line (account_id, order_id, line_idx), lines of voided
--   orders included (is_void_order: every other mart leaves them out)
-- purpose: every credit with its mechanism (removal / reduction), removal sink, registry,
--   host country and retirement date: the base of the ESRS E1-7 AR 62 and CDP C11.2a figures.
--   Mechanism: Lune's own bundle offset_type when the line's project belongs to one of the
--   order's bundles, else the project-type seed, else 'unclassified' (kept, never dropped,
--   and listed in data_quality_issues).
--   retired_at: the witnessed move of the order into `complete` (into `retiring` while the
--   order is still retiring); without one, the order's created_at and
--   retired_at_is_estimate = true. retirement_known_at is the earliest moment the loader knew
--   the line was retired. Vintage, corresponding adjustment and CCP label are not in Lune's
--   API: always null.
with lines as (
    select * from {{ ref('stg_lune__order_projects') }}
),

orders as (
    select * from {{ ref('stg_lune__orders') }}
),

accounts as (
    select * from {{ ref('stg_lune__client_accounts') }}
),

projects as (
    select * from {{ ref('stg_lune__projects') }}
),

bundles as (
    select * from {{ ref('stg_lune__bundles') }}
),

order_bundles as (
    select * from {{ ref('stg_lune__order_bundles') }}
),

bundle_projects as (
    select * from {{ ref('int_lune__bundle_projects') }}
),

retirement_times as (
    select * from {{ ref('int_lune__order_retirement_times') }}
),

mechanisms as (
    select * from {{ ref('project_type_mechanisms') }}
),

eu_member_states as (
    select * from {{ ref('eu_member_states') }}
),

-- the order's bundle line that holds the line's project (lowest bundle id if several do)
line_bundles as (
    select
        l.account_id,
        l.order_id,
        l.line_idx,
        min(ob.bundle_id) as bundle_id
    from lines as l
    inner join order_bundles as ob
        on ob.account_id = l.account_id
        and ob.order_id = l.order_id
    inner join bundle_projects as bp
        on bp.bundle_id = ob.bundle_id
        and bp.project_id = l.project_id
    group by
        l.account_id,
        l.order_id,
        l.line_idx
),

joined as (
    select
        l.account_id,
        a.account_name,
        l.order_id,
        l.line_idx,
        o.status as order_status,
        o.is_void as is_void_order,
        o.created_at as order_created_at,
        o.currency,
        l.project_id,
        coalesce(l.project_name, p.project_name) as project_name,
        coalesce(l.project_type, p.project_type) as project_type,
        coalesce(l.project_type_key, p.project_type_key) as project_type_key,
        p.project_id is not null as is_catalogued_project,
        b.bundle_id,
        b.bundle_name,
        b.offset_type as bundle_offset_type,
        b.carbon_permanence,
        case b.offset_type
            when 'carbon_removal' then 'removal'
            when 'emissions_reduction' then 'reduction'
        end as bundle_mechanism,
        m.mechanism as seed_mechanism,
        m.sink as seed_sink,
        m.solution_category,
        m.oxford_category,
        p.registry_name,
        p.registry_link,
        p.methodology,
        p.country_code,
        p.country_name,
        case
            when p.country_code is null then null
            else eu.country_code is not null
        end as is_eu_host,
        l.quantity_tonnes,
        l.net_unit_price,
        l.net_cost,
        l.line_status,
        t.witnessed_complete_at,
        t.witnessed_retiring_at,
        t.first_observed_at
    from lines as l
    inner join orders as o
        on o.account_id = l.account_id
        and o.order_id = l.order_id
    left join accounts as a
        on a.account_id = l.account_id
    left join line_bundles as lb
        on lb.account_id = l.account_id
        and lb.order_id = l.order_id
        and lb.line_idx = l.line_idx
    left join bundles as b
        on b.bundle_id = lb.bundle_id
    left join projects as p
        on p.project_id = l.project_id
    left join mechanisms as m
        on m.project_type_key = coalesce(l.project_type_key, p.project_type_key)
    left join eu_member_states as eu
        on eu.country_code = p.country_code
    left join retirement_times as t
        on t.account_id = l.account_id
        and t.order_id = l.order_id
),

classified as (
    select
        *,
        coalesce(bundle_mechanism, seed_mechanism, 'unclassified') as mechanism,
        case
            when bundle_mechanism is not null then 'bundle_offset_type'
            when seed_mechanism is not null then 'project_type_seed'
            else 'unmapped'
        end as mechanism_source,
        case
            when line_status <> 'retired' then null
            when order_status = 'complete' and witnessed_complete_at is not null
                then 'witnessed_complete'
            when order_status = 'retiring' and witnessed_retiring_at is not null
                then 'witnessed_retiring'
            else 'order_created_at'
        end as retired_at_source
    from joined
),

dated as (
    select
        *,
        case retired_at_source
            when 'witnessed_complete' then witnessed_complete_at
            when 'witnessed_retiring' then witnessed_retiring_at
            when 'order_created_at' then order_created_at
        end as retired_at,
        case retired_at_source
            when 'witnessed_complete' then witnessed_complete_at
            when 'witnessed_retiring' then witnessed_retiring_at
            when 'order_created_at' then first_observed_at
        end as retirement_known_at
    from classified
),

final as (
    select
        account_id,
        account_name,
        order_id,
        line_idx,
        order_status,
        is_void_order,
        order_created_at,
        {{ reporting_year('order_created_at') }} as order_reporting_year,
        currency,
        project_id,
        project_name,
        project_type,
        project_type_key,
        is_catalogued_project,
        mechanism,
        mechanism_source,
        bundle_mechanism,
        seed_mechanism,
        case when mechanism = 'removal' then coalesce(seed_sink, 'unknown') end as removal_sink,
        solution_category,
        oxford_category,
        carbon_permanence,
        bundle_id,
        bundle_name,
        bundle_offset_type,
        registry_name,
        case
            when registry_name is not null then registry_name
            when is_catalogued_project then 'Not certified'
            else 'Unknown project'
        end as registry_label,
        registry_link,
        methodology,
        country_code,
        country_name,
        is_eu_host,
        quantity_tonnes,
        net_unit_price,
        net_cost,
        line_status,
        coalesce(line_status = 'retired', false) as is_retired,
        retired_at,
        retired_at_source,
        case
            when retired_at_source is not null then retired_at_source = 'order_created_at'
        end as retired_at_is_estimate,
        retirement_known_at,
        {{ reporting_year('retired_at') }} as reporting_year,
        cast(null as {{ dbt.type_string() }}) as vintage,
        cast(null as {{ dbt.type_string() }}) as corresponding_adjustment,
        cast(null as {{ dbt.type_string() }}) as ccp_label
    from dated
)

select * from final
