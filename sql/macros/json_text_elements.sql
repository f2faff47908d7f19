{#
    json_text_elements(json_column): a set-returning expression, one row per element of the
    JSON array in `json_column`, each as text (used in a select list).
#}
{% macro json_text_elements(json_column) %}
    {{- return(adapter.dispatch('json_text_elements', 'lune_reporting')(json_column)) -}}
{% endmacro %}

{% macro duckdb__json_text_elements(json_column) %}
    unnest(json_extract_string({{ json_column }}, '$[*]'))
{%- endmacro %}

{% macro postgres__json_text_elements(json_column) %}
    jsonb_array_elements_text({{ json_column }})
{%- endmacro %}
