{#- Generic tests judge the run's window: the days and models in the vars, like every other
    check of a day. A test whose `where` config is `run_window` (every test, through
    dbt_project.yml) reads only those rows of the relation it tests; without the vars (dbt run
    by hand) it reads them all. Test configs are rendered when the project is parsed, before the
    run's vars are known, so the window is put in here, when the test is compiled. -#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- if where == 'run_window' -%}
        {%- set where = metric_window_filter(_window_date_column(relation.identifier)) -%}
    {%- endif -%}
    {%- if where -%}
        (select * from {{ relation }} where {{ where }}) dbt_subquery
    {%- else -%}
        {{ relation }}
    {%- endif -%}
{%- endmacro %}

{#- The day column of a relation: when its rows happened, arrived or were aggregated. -#}
{% macro _window_date_column(identifier) -%}
    {%- set columns = {'stg_business_events': 'event_date', 'stg_labels': 'arrival_date'} -%}
    {{- return(columns.get(identifier, 'metric_date')) -}}
{%- endmacro %}
