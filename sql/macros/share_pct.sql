{#
    share_pct(part, whole): `part` as a percentage of `whole`, decimal(9,2) rounded to two
    decimals, null when `whole` is zero or null. Every share in the marts is spelled this way.
#}
{% macro share_pct(part, whole) %}
    cast(round(100 * ({{ part }}) / nullif({{ whole }}, 0), 2) as numeric(9,2))
{%- endmacro %}
