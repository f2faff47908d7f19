-- grain: one row per order x project line (account_id, order_id, line_idx)
-- purpose: every credit with its mechanism, sink, registry, host country and retirement
--   timing — the base of the ESRS E1-7 / CDP C11.2a figures. Mechanism prefers Lune's own
--   bundle offset_type, then the project-type seed; otherwise 'unclassified' (never dropped).
--   retired_at comes from a witnessed status change; without one it falls back to the
--   order's created_at and retired_at_is_estimate says so. Vintage and corresponding
--   adjustments are not in Lune's API: they stay null.
with lines as (
    select * from {dataset}.stg_lune__order_projects
),

orders as (
    select * from {dataset}.stg_lune__orders
),

projects as (
    select * from {dataset}.stg_lune__projects
),

bundles as (
    select * from {dataset}.stg_lune__bundles
),

order_bundles as (
    select * from {dataset}.stg_lune__order_bundles
),

bundle_projects as (
    select * from {dataset}.seed_bundle_projects
),

mechanisms as (
    select * from {dataset}.seed_project_type_mechanisms
),

eu as (
    select * from {dataset}.seed_eu_member_states
),

line_bundles as (
    select
        l.account_id,
        l.order_id,
        l.line_idx,
        min(ob.bundle_id) as bundle_id
    from lines as l
    inner join order_bundles as ob
        on ob.account_id = l.account_id and ob.order_id = l.order_id
    inner join bundle_projects as bp
        on bp.bundle_id = ob.bundle_id and bp.project_id = l.project_id
    group by l.account_id, l.order_id, l.line_idx
),

transitions as (
    select
        account_id,
        order_id,
        min(case when status = 'complete' and is_witnessed_transition then observed_at end)
            as completed_at,
        min(case when status = 'retiring' and is_witnessed_transition then observed_at end)
            as retiring_at
    from {dataset}.stg_lune__order_status_history
    group by account_id, order_id
),

joined as (
    select
        l.account_id,
        l.order_id,
        l.line_idx,
        l.project_id,
        l.project_name,
        l.project_type,
        b.bundle_id,
        b.bundle_name,
        b.offset_type,
        b.carbon_permanence,
        m.mechanism as seed_mechanism,
        m.sink,
        m.oxford_category,
        p.registry_name,
        p.country_code,
        p.country_name,
        eu.country_code is not null as is_eu_host,
        l.quantity_tonnes,
        l.net_unit_price,
        l.net_cost,
        o.currency,
        l.line_status,
        o.status as order_status,
        o.created_at as order_created_at,
        case
            when o.status = 'complete' then t.completed_at
            when o.status = 'retiring' then t.retiring_at
        end as witnessed_retired_at
    from lines as l
    inner join orders as o
        on o.account_id = l.account_id and o.order_id = l.order_id
    left join line_bundles as lb
        on lb.account_id = l.account_id and lb.order_id = l.order_id and lb.line_idx = l.line_idx
    left join bundles as b
        on b.bundle_id = lb.bundle_id
    left join projects as p
        on p.project_id = l.project_id
    left join mechanisms as m
        on m.project_type_key = l.project_type_key
    left join eu
        on eu.country_code = p.country_code
    left join transitions as t
        on t.account_id = l.account_id and t.order_id = l.order_id
),

final as (
    select
        account_id,
        order_id,
        line_idx,
        project_id,
        project_name,
        project_type,
        case offset_type
            when 'carbon_removal' then 'removal'
            when 'emissions_reduction' then 'reduction'
            else coalesce(seed_mechanism, 'unclassified')
        end as mechanism,
        case
            when offset_type is not null then 'bundle_offset_type'
            when seed_mechanism is not null then 'project_type_seed'
            else 'unmapped'
        end as mechanism_source,
        sink,
        oxford_category,
        carbon_permanence,
        bundle_id,
        bundle_name,
        registry_name,
        country_code,
        country_name,
        is_eu_host,
        quantity_tonnes,
        net_unit_price,
        net_cost,
        currency,
        line_status,
        order_status,
        case when line_status = 'retired' then coalesce(witnessed_retired_at, order_created_at) end
            as retired_at,
        case when line_status = 'retired' then witnessed_retired_at is null end
            as retired_at_is_estimate,
        cast(
            extract(
                year from case
                    when line_status = 'retired' then coalesce(witnessed_retired_at, order_created_at)
                end
            ) as integer
        ) as reporting_year,
        cast(null as text) as vintage,
        cast(null as text) as corresponding_adjustment
    from joined
)

select * from final
