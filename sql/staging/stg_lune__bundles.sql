-- grain: one row per catalogue bundle (bundle_id)
with source as (
    select * from {dataset}.bundles
),

final as (
    select
        id as bundle_id,
        name as bundle_name,
        offset_type,
        carbon_permanence,
        approach,
        disabled as is_disabled
    from source
)

select * from final
