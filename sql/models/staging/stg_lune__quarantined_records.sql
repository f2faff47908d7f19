-- stg_lune__quarantined_records
-- grain: one row per record the loader set aside for breaking the API contract
-- purpose: surfaced in data_quality_issues; payload is the raw record as JSON text
with source as (
    select * from {{ lune_source('quarantined_records') }}
),

renamed as (
    select
        account_id,
        endpoint,
        record_id,
        reason,
        payload,
        observed_at,
        load_id
    from source
),

final as (
    select * from renamed
)

select * from final
