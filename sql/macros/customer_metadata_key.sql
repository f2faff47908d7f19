{#
    customer_metadata_key(): the order metadata key that names the end customer (var
    customer_metadata_key), checked before it is spliced into a JSON path: Lune metadata keys
    are free text, and only a plain key is safe inside the SQL string literal.
#}
{% macro customer_metadata_key() %}
    {%- set key = var('customer_metadata_key') -%}
    {%- if not (key is string and modules.re.fullmatch('[A-Za-z0-9_-]{1,64}', key)) -%}
        {{- exceptions.raise_compiler_error(
            "customer_metadata_key " ~ (key | string)[:80] ~ " must be 1-64 letters, digits, '_' or '-'"
        ) -}}
    {%- endif -%}
    {{- return(key) -}}
{% endmacro %}
