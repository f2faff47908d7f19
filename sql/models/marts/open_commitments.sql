-- open_commitments
-- grain: one row per order contracted but not finished (account_id, order_id): any status
--   other than complete, cancelled or failed (received, placed, paid, retiring, and statuses
--   Lune may add), unless the API no longer returns the order (order_details.is_vanished)
-- purpose: ESRS E1-7 §59(b) / AR 63 credits to be retired under existing contracts: tonnes
--   outstanding, age, the bundles' offset types and Lune's insufficient-inventory flags.
--   A value order not yet placed has no tonnes: outstanding_tonnes_unknown says so and
--   requested_value (in currency) is what was asked for.
with orders as (
    select * from {{ ref('order_details') }}
    where is_open
),

order_bundles as (
    select * from {{ ref('stg_lune__order_bundles') }}
),

bundles as (
    select * from {{ ref('stg_lune__bundles') }}
),

bundle_lines as (
    select
        ob.account_id,
        ob.order_id,
        string_agg(distinct coalesce(ob.bundle_name, b.bundle_name, ob.bundle_id), '; '
            order by coalesce(ob.bundle_name, b.bundle_name, ob.bundle_id)) as bundle_names,
        string_agg(distinct coalesce(b.offset_type, 'unknown'), '; '
            order by coalesce(b.offset_type, 'unknown')) as bundle_offset_types,
        sum(case when ob.is_insufficient_inventory then 1 else 0 end) > 0
            as has_insufficient_inventory,
        sum(case when ob.is_insufficient_inventory then ob.quantity_tonnes else 0 end)
            as insufficient_inventory_tonnes
    from order_bundles as ob
    left join bundles as b
        on b.bundle_id = ob.bundle_id
    group by
        ob.account_id,
        ob.order_id
),

final as (
    select
        o.account_id,
        o.account_name,
        o.order_id,
        o.status,
        o.order_type,
        o.currency,
        o.requested_value,
        o.contracted_tonnes,
        o.retired_tonnes,
        o.allocated_tonnes,
        o.unretired_tonnes as outstanding_tonnes,
        o.contracted_tonnes is null as outstanding_tonnes_unknown,
        o.net_cost,
        o.gross_cost,
        o.created_at,
        o.order_reporting_year,
        cast(
            {{ dbt.datediff("cast(o.created_at at time zone 'UTC' as date)", 'current_date', 'day') }}
            as bigint
        ) as age_days,
        cast(
            {{ dbt.datediff("cast(o.created_at at time zone 'UTC' as date)", 'current_date', 'day') }}
            as bigint
        ) > {{ open_order_max_days() }} as is_overdue,
        bl.bundle_names,
        bl.bundle_offset_types,
        coalesce(bl.has_insufficient_inventory, false) as has_insufficient_inventory,
        coalesce(bl.insufficient_inventory_tonnes, 0) as insufficient_inventory_tonnes
    from orders as o
    left join bundle_lines as bl
        on bl.account_id = o.account_id
        and bl.order_id = o.order_id
)

select * from final
