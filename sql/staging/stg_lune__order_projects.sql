-- grain: one row per order x project line (account_id, order_id, line_idx)
with source as (
    select * from {dataset}.orders__projects
),

final as (
    select
        account_id,
        order_id,
        line_idx,
        project_id,
        project_name,
        project_type,
        lower(trim(project_type)) as project_type_key,
        quantity as quantity_tonnes,
        unit_price as net_unit_price,
        offset_cost as net_cost,
        status as line_status
    from source
)

select * from final
