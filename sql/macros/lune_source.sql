{#
    lune_source(table_name): the loaded table `table_name` of the `lune` source, ready to select
    from, even before the pipeline has created it.

    dlt creates a table with its first rows, so a first run on an empty account, or an account
    whose orders never had a quarantined record, has fewer tables (or columns) than the models
    read. Then the table (or column) is stood in for by typed nulls, with the types declared in
    _lune__sources.yml, so every model stays valid and simply empty. The reference to source()
    always happens, so dbt's lineage and docs show the real source either way.
#}
{% macro lune_source(table_name) %}
    {%- set relation = source('lune', table_name) -%}
    {%- if not execute -%}
        {{- return(relation) -}}
    {%- endif -%}
    {%- set declared = lune_declared_columns(table_name) -%}
    {%- set present = lune_present_columns(relation) -%}
    {%- set existing = present | length > 0 -%}
    {%- set missing = declared | rejectattr('name', 'in', present) | list -%}
    {%- if existing and missing | length == 0 -%}
        {{- return(relation) -}}
    {%- endif -%}
    (
        select
        {%- for column in declared %}
            {% if column.name in present -%}
                {{ adapter.quote(column.name) }}
            {%- else -%}
                cast(null as {{ lune_data_type(column.data_type) }}) as {{ adapter.quote(column.name) }}
            {%- endif -%}
            {{- "," if not loop.last }}
        {%- endfor %}
        {% if not existing -%}
        where 1 = 0
        {%- else -%}
        from {{ relation }}
        {%- endif %}
    ) as {{ table_name }}_stand_in
{%- endmacro %}


{#
    The lower-cased column names of a loaded table, [] when it does not exist. One query on the
    information schema, asked a second time when it finds nothing: under a heavily loaded
    machine a build once compiled a stand-in for a table that existed (DuckDB, 4 threads
    compiling at once); a stand-in for a real table would silently empty every mart.
#}
{% macro lune_present_columns(relation) %}
    {%- set query -%}
        select lower(column_name) as column_name
        from information_schema.columns
        where table_schema = '{{ relation.schema }}'
            and table_name = '{{ relation.identifier }}'
            {%- if relation.database %}
            and table_catalog = '{{ relation.database }}'
            {%- endif %}
    {%- endset -%}
    {%- set columns = run_query(query).columns[0].values() | list -%}
    {%- if columns | length == 0 -%}
        {%- set columns = run_query(query).columns[0].values() | list -%}
    {%- endif -%}
    {{- return(columns) -}}
{% endmacro %}


{# The columns _lune__sources.yml declares for `table_name`, in order, as {name, data_type}. #}
{% macro lune_declared_columns(table_name) %}
    {%- set node = graph.sources.values()
        | selectattr('source_name', 'equalto', 'lune')
        | selectattr('name', 'equalto', table_name)
        | first -%}
    {%- set columns = [] -%}
    {%- for name, column in node.columns.items() -%}
        {%- do columns.append({'name': name | lower, 'data_type': column.data_type}) -%}
    {%- endfor -%}
    {{- return(columns) -}}
{% endmacro %}


{# A declared source type spelled for the warehouse: DuckDB's spelling, with JSON as PostgreSQL's jsonb. #}
{% macro lune_data_type(data_type) %}
    {{- return(adapter.dispatch('lune_data_type', 'lune_reporting')(data_type)) -}}
{% endmacro %}

{% macro default__lune_data_type(data_type) %}
    {{- return(data_type) -}}
{% endmacro %}

{% macro postgres__lune_data_type(data_type) %}
    {{- return('jsonb' if data_type == 'json' else data_type) -}}
{% endmacro %}
