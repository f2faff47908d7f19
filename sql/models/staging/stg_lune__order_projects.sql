-- stg_lune__order_projects
-- grain: one row per order x project line (account_id, order_id, line_idx)
-- purpose: the credits of an order, per project, with clean names. project_type_key is the
--   lower-cased, trimmed project type the mechanism seed is keyed on (Lune mixes
--   "Forest conservation" and "Forest Conservation").
with source as (
    select * from {{ lune_source('orders__projects') }}
),

renamed as (
    select
        account_id,
        order_id,
        line_idx,
        project_id,
        project_name,
        project_type,
        lower(trim(project_type)) as project_type_key,
        project_slug,
        quantity as quantity_tonnes,
        unit_price as net_unit_price,
        offset_cost as net_cost,
        status as line_status,
        synced_at
    from source
),

final as (
    select * from renamed
)

select * from final
