{#
    has_parent: every row's `columns` (not all null) name a row of `to` with the same values in
    `parent_columns` (default: the same names). dbt's `relationships` takes one column; the
    keys here are (account_id, order_id).
#}
{% test has_parent(model, to, columns, parent_columns=none) %}
{%- set parent_columns = parent_columns or columns %}

select
    {% for column in columns -%}
    child.{{ column }}{{ "," if not loop.last }}
    {% endfor %}
from {{ model }} as child
where
    {% for column in columns -%}
    child.{{ column }} is not null{{ " and" if not loop.last }}
    {% endfor %}
    and not exists (
        select 1
        from {{ to }} as parent
        where
            {% for column in columns -%}
            parent.{{ parent_columns[loop.index0] }} = child.{{ column }}{{ " and" if not loop.last }}
            {% endfor %}
    )

{% endtest %}
