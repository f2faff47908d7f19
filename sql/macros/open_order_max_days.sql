{#
    open_order_max_days(): the var open_order_max_days, checked: an order open longer than this
    many days after it was created is overdue (open_commitments.is_overdue, data quality).
#}
{% macro open_order_max_days() %}
    {%- set days = var('open_order_max_days') -%}
    {%- if days is string and days.isdigit() -%}
        {%- set days = days | int -%}
    {%- endif -%}
    {%- if not (days is number and days == days | int and days >= 0) -%}
        {{- exceptions.raise_compiler_error(
            "open_order_max_days must be a whole number of days, not " ~ days
        ) -}}
    {%- endif -%}
    {{- return(days | int) -}}
{% endmacro %}
