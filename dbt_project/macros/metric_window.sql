{#- The window of days and models a run covers, from the vars `start_date` (inclusive),
    `end_date` (exclusive) and `models` (a list of model names). Values are checked before
    they reach SQL: dates must be ISO dates, model names identifiers. -#}
{% macro metric_window_filter(date_column='metric_date') -%}
    {%- set start = var('start_date', none) -%}
    {%- set end = var('end_date', none) -%}
    {%- set models = var('models', none) -%}
    (1 = 1
    {%- if start %} and {{ date_column }} >= cast('{{ _iso_date(start) }}' as date){% endif %}
    {%- if end %} and {{ date_column }} < cast('{{ _iso_date(end) }}' as date){% endif %}
    {%- if models is not none %}
        {%- if models is string %}{% set models = [models] %}{% endif %}
        and model_name in ({% for m in models %}'{{ _model_name(m) }}'{% if not loop.last %}, {% endif %}{% endfor %}{% if models | length == 0 %}null{% endif %})
    {%- endif %})
{%- endmacro %}

{#- Before an incremental run of a mart: delete the rows of the window it is about to insert. -#}
{% macro delete_metric_window() -%}
    {%- if is_incremental() -%}
        delete from {{ this }} where {{ metric_window_filter('metric_date') }}
    {%- endif -%}
{%- endmacro %}

{% macro _iso_date(value) -%}
    {%- set text = value | string -%}
    {%- if not modules.re.match('^[0-9]{4}-[0-9]{2}-[0-9]{2}$', text) -%}
        {{ exceptions.raise_compiler_error("expected an ISO date (YYYY-MM-DD), got " ~ text) }}
    {%- endif -%}
    {{- modules.datetime.date.fromisoformat(text).isoformat() -}}
{%- endmacro %}

{% macro _model_name(value) -%}
    {%- set text = value | string -%}
    {%- if not modules.re.match('^[a-z][a-z0-9_]{0,62}$', text) -%}
        {{ exceptions.raise_compiler_error("expected a model name (lowercase identifier), got " ~ text) }}
    {%- endif -%}
    {{- text -}}
{%- endmacro %}
