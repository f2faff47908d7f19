-- int_lune__bundle_projects
-- grain: one row per catalogue bundle x project it holds (bundle_id, project_id)
-- purpose: the bundle membership of each project, unpacked from the catalogue's project_ids
--   JSON arrays: credit_lines takes a line's mechanism from the order's bundle that holds
--   the line's project.
with bundles as (
    select * from {{ ref('stg_lune__bundles') }}
),

unpacked as (
    select
        bundle_id,
        {{ json_text_elements('project_ids') }} as project_id
    from bundles
    where project_ids is not null
),

final as (
    select distinct
        bundle_id,
        project_id
    from unpacked
    where bundle_id is not null
        and project_id is not null
)

select * from final
