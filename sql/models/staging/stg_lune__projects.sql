-- stg_lune__projects
-- grain: one row per catalogue project (project_id), disabled projects included
-- purpose: registry (quality standard) and host country of each project, with clean names;
--   country_code upper-cased and trimmed for the EU lookup
with source as (
    select * from {{ lune_source('projects') }}
),

renamed as (
    select
        id as project_id,
        name as project_name,
        slug as project_slug,
        project_type,
        lower(trim(project_type)) as project_type_key,
        registry_name,
        registry_link,
        upper(trim(country_code)) as country_code,
        country_name,
        region,
        methodology,
        durability,
        verifying_body,
        crediting_start_date,
        crediting_end_date,
        registration_date,
        coalesce(disabled, false) as is_disabled,
        synced_at
    from source
),

final as (
    select * from renamed
)

select * from final
