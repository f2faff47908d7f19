{#
    Reporting periods. A reporting (fiscal) year starts on the first day of the month set by
    the var fiscal_year_start_month (1 = January: calendar years) and is labelled with the
    calendar year it starts in: with April, 2025 is 2025-04-01 .. 2026-03-31. Periods are
    UTC, whatever the session time zone. Months stay calendar months.
#}

{# The validated start month of the reporting year, 1-12. #}
{% macro fiscal_year_start_month() %}
    {%- set month = var('fiscal_year_start_month') -%}
    {%- if month is string and month.isdigit() -%}
        {%- set month = month | int -%}
    {%- endif -%}
    {%- if not (month is number and month == month | int and 1 <= month <= 12) -%}
        {{- exceptions.raise_compiler_error(
            "fiscal_year_start_month must be a month number from 1 to 12, not " ~ month
        ) -}}
    {%- endif -%}
    {{- return(month | int) -}}
{% endmacro %}


{# The reporting year (an integer label) of a timestamp with time zone, in UTC. #}
{% macro reporting_year(timestamp_expr) %}
    {%- set start = fiscal_year_start_month() -%}
    {%- set utc = '(' ~ timestamp_expr ~ " at time zone 'UTC')" -%}
    {%- if start == 1 -%}
        cast(extract(year from {{ utc }}) as integer)
    {%- else -%}
        (
            cast(extract(year from {{ utc }}) as integer)
            - case when extract(month from {{ utc }}) < {{ start }} then 1 else 0 end
        )
    {%- endif -%}
{% endmacro %}


{# The reporting year of a date (no time zone involved). #}
{% macro reporting_year_of_date(date_expr) %}
    {%- set start = fiscal_year_start_month() -%}
    (
        cast(extract(year from {{ date_expr }}) as integer)
        - case when extract(month from {{ date_expr }}) < {{ start }} then 1 else 0 end
    )
{%- endmacro %}


{# First and last day of the reporting year labelled `year_expr`. #}
{% macro period_start(year_expr) %}
    make_date(cast({{ year_expr }} as integer), {{ fiscal_year_start_month() }}, 1)
{%- endmacro %}

{% macro period_end(year_expr) %}
    cast(
        make_date(cast({{ year_expr }} as integer) + 1, {{ fiscal_year_start_month() }}, 1)
        - interval '1 day'
        as date
    )
{%- endmacro %}


{# The first instant after the reporting year labelled `year_expr`, as a UTC timestamp. #}
{% macro period_end_exclusive(year_expr) %}
    (
        cast(
            make_date(cast({{ year_expr }} as integer) + 1, {{ fiscal_year_start_month() }}, 1)
            as timestamp
        ) at time zone 'UTC'
    )
{%- endmacro %}
