-- order_details
-- grain: one row per order (account_id, order_id), voided and vanished orders included
-- purpose: each order with its status, money in the order's currency (net, commission,
--   gross), requested vs delivered, net and gross price per tonne, retired / allocated /
--   unretired tonnes from its project lines, certificate, account and metadata.
--   is_void: Lune status cancelled / failed (a voided order, not an ESRS "cancelled" credit):
--   its tonnes count toward nothing (retired_tonnes 0; what Lune shows retired on it is in
--   void_order_retired_tonnes). is_vanished: an open order the API stopped returning.
--   customer_id is the order metadata key set by the customer_metadata_key var.
with orders as (
    select * from {{ ref('stg_lune__orders') }}
),

accounts as (
    select * from {{ ref('stg_lune__client_accounts') }}
),

line_totals as (
    select * from {{ ref('int_lune__order_line_totals') }}
),

joined as (
    select
        o.*,
        a.account_name,
        coalesce(o.delivered_tonnes, o.requested_tonnes) as contracted_tonnes,
        coalesce(t.project_line_count, 0) as project_line_count,
        coalesce(t.unretired_line_count, 0) as unretired_line_count,
        coalesce(t.line_tonnes, 0) as line_tonnes,
        coalesce(t.retired_tonnes, 0) as line_retired_tonnes,
        coalesce(t.allocated_tonnes, 0) as line_allocated_tonnes
    from orders as o
    left join line_totals as t
        on t.account_id = o.account_id
        and t.order_id = o.order_id
    left join accounts as a
        on a.account_id = o.account_id
),

final as (
    select
        account_id,
        account_name,
        order_id,
        idempotency_key,
        order_type,
        is_estimate_order,
        estimate_id,
        status,
        is_void,
        is_vanished,
        vanished_at,
        not is_void
        and not is_vanished
        and coalesce(status, '') not in ('complete', 'cancelled', 'failed') as is_open,
        currency,
        requested_value,
        requested_tonnes,
        delivered_tonnes,
        contracted_tonnes,
        net_cost,
        commission,
        gross_cost,
        cast(round(net_cost / nullif(delivered_tonnes, 0), 6) as numeric(38,6))
            as net_price_per_tonne,
        cast(round(gross_cost / nullif(delivered_tonnes, 0), 6) as numeric(38,6))
            as gross_price_per_tonne,
        project_line_count,
        unretired_line_count,
        line_tonnes,
        case when is_void then 0 else line_retired_tonnes end as retired_tonnes,
        case when is_void then 0 else line_allocated_tonnes end as allocated_tonnes,
        case when is_void then line_retired_tonnes else 0 end as void_order_retired_tonnes,
        case
            when is_void or is_vanished then 0
            else greatest(coalesce(contracted_tonnes, 0) - line_retired_tonnes, 0)
        end as unretired_tonnes,
        payment_method,
        certificate_url,
        public_certificate_url,
        offset_link_id,
        metadata ->> '{{ customer_metadata_key() }}' as customer_id,
        metadata,
        created_at,
        {{ reporting_year('created_at') }} as order_reporting_year,
        synced_at
    from joined
)

select * from final
