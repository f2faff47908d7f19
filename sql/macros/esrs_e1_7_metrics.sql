{#
    esrs_e1_7_metrics(): the figures esrs_e1_7_summary and its organisation rollup share, so
    both compute, name and compare them the same way.
      tonnes: tonnes summed over retired lines (of orders not voided)
      shares: (name, part, whole): part as a percentage of whole
#}
{% macro esrs_e1_7_metrics() %}
    {{- return({
        'tonnes': [
            'retired_tonnes',
            'removal_tonnes',
            'reduction_tonnes',
            'mixed_tonnes',
            'unclassified_tonnes',
            'biogenic_removal_tonnes',
            'technological_removal_tonnes',
            'hybrid_removal_tonnes',
            'unknown_sink_removal_tonnes',
            'eu_host_tonnes',
            'non_eu_host_tonnes',
            'unknown_host_tonnes',
            'fallback_dated_tonnes',
        ],
        'shares': [
            ('removal_pct', 'removal_tonnes', 'retired_tonnes'),
            ('reduction_pct', 'reduction_tonnes', 'retired_tonnes'),
            ('mixed_pct', 'mixed_tonnes', 'retired_tonnes'),
            ('unclassified_pct', 'unclassified_tonnes', 'retired_tonnes'),
            ('biogenic_removal_pct', 'biogenic_removal_tonnes', 'removal_tonnes'),
            ('technological_removal_pct', 'technological_removal_tonnes', 'removal_tonnes'),
            ('hybrid_removal_pct', 'hybrid_removal_tonnes', 'removal_tonnes'),
            ('unknown_sink_removal_pct', 'unknown_sink_removal_tonnes', 'removal_tonnes'),
            ('eu_host_pct', 'eu_host_tonnes', 'retired_tonnes'),
            ('unknown_host_pct', 'unknown_host_tonnes', 'retired_tonnes'),
        ],
    }) -}}
{% endmacro %}
