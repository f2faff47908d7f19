{#
    integer_series(first, last): a set-returning expression (for a select list), one row per
    integer from `first` to `last` inclusive; used to give every account a row for each
    reporting year, so a prior-year comparative exists even for a year without activity.
#}
{% macro integer_series(first, last) %}
    {{- return(adapter.dispatch('integer_series', 'lune_reporting')(first, last)) -}}
{% endmacro %}

{% macro default__integer_series(first, last) %}
    generate_series({{ first }}, {{ last }})
{%- endmacro %}

{% macro duckdb__integer_series(first, last) %}
    unnest(generate_series({{ first }}, {{ last }}))
{%- endmacro %}
