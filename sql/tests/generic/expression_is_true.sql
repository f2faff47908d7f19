{#
    expression_is_true: `expression` holds on every row (optionally only where `where` holds).
    Rows where it is false or null fail.
#}
{% test expression_is_true(model, expression) %}

select *
from {{ model }}
where not coalesce({{ expression }}, false)

{% endtest %}
