{#
    drop_legacy_relations(): removes what versions before the dbt project built inside the raw
    dataset (views, seed tables and a helper table next to dlt's tables), so a BI user browsing
    the raw schema finds only loaded tables. Runs at the start of every build; one catalogue
    query when there is nothing to drop.
#}
{% macro drop_legacy_relations() %}
    {%- if not execute -%}
        {{- return('select 1') -}}
    {%- endif -%}
    {%- set legacy = [
        'stg_lune__bundles', 'stg_lune__client_accounts', 'stg_lune__order_bundles',
        'stg_lune__order_projects', 'stg_lune__order_status_history', 'stg_lune__orders',
        'stg_lune__projects', 'stg_lune__quarantined_records',
        'int_lune__order_line_totals', 'int_lune__order_retirement_times',
        'int_lune__bundle_projects', 'seed_project_type_mechanisms', 'seed_eu_member_states',
        'seed_bundle_projects',
        'certificate_register', 'credit_lines', 'customer_overview', 'data_quality_issues',
        'esrs_e1_7_registry_shares', 'esrs_e1_7_summary', 'open_commitments', 'order_details',
        'portfolio_mix', 'retirements_monthly'
    ] -%}
    {%- set raw_schema = api.Relation.create(
        database=target.database, schema=var('lune_dataset') or target.schema
    ) -%}
    {%- set statements = [] -%}
    {%- for row in list_relations_without_caching(raw_schema) -%}
        {%- set relation = api.Relation.create(
            database=row['database'], schema=row['schema'], identifier=row['name'], type=row['type']
        ) -%}
        {%- if row['name'] | lower in legacy -%}
            {%- do log('dropping ' ~ relation ~ ', built by an earlier version in the raw dataset', info=true) -%}
            {%- do statements.append(
                'drop ' ~ relation.type ~ ' if exists ' ~ relation ~ ' cascade'
            ) -%}
        {%- endif -%}
    {%- endfor -%}
    {#- dbt runs a project hook inside a transaction that it rolls back: commit explicitly -#}
    {{- return((statements + ['commit']) | join(';\n') if statements else 'select 1') -}}
{% endmacro %}
