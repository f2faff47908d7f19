-- grain: one row per catalogue project (project_id)
with source as (
    select * from {dataset}.projects
),

final as (
    select
        id as project_id,
        name as project_name,
        project_type,
        registry_name,
        registry_link,
        country_code,
        country_name,
        region,
        methodology,
        durability,
        disabled as is_disabled
    from source
)

select * from final
