-- stg_lune__bundles
-- grain: one row per catalogue bundle (bundle_id), disabled bundles included
-- purpose: Lune's own classification of each bundle (offset_type, carbon_permanence)
with source as (
    select * from {{ lune_source('bundles') }}
),

renamed as (
    select
        id as bundle_id,
        name as bundle_name,
        offset_type,
        carbon_permanence,
        approach,
        unit_price as net_unit_price,
        gross_unit_price,
        currency,
        available_quantity as available_tonnes,
        coalesce(disabled, false) as is_disabled,
        project_ids,
        synced_at
    from source
),

final as (
    select * from renamed
)

select * from final
