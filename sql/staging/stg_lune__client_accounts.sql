-- grain: one row per account the API key reads (account_id)
with source as (
    select * from {dataset}.client_accounts
),

final as (
    select
        id as account_id,
        name as account_name,
        currency as account_currency,
        scope as account_scope
    from source
)

select * from final
