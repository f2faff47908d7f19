-- stg_lune__client_accounts
-- grain: one row per Lune account the API key reads (account_id)
-- purpose: account names and currencies, with clean names
with source as (
    select * from {{ lune_source('client_accounts') }}
),

renamed as (
    select
        id as account_id,
        name as account_name,
        currency as account_currency,
        type as account_type,
        scope as account_scope,
        handle as account_handle,
        beneficiary,
        organisation_id,
        synced_at
    from source
),

final as (
    select * from renamed
)

select * from final
