{#
    unique_combination: no two rows share the values of `columns` (the model's grain).
    dbt's own `unique` takes one column; grains here are compound (account_id, order_id, …).
#}
{% test unique_combination(model, columns) %}

select
    {{ columns | join(',\n    ') }},
    count(*) as row_count
from {{ model }}
group by
    {{ columns | join(',\n    ') }}
having count(*) > 1

{% endtest %}
