{#- A view that is replaced only when its SQL changed.

    dbt's `view` materialization creates the view anew on every build (create, rename the old
    one away, rename the new one in, drop the old one), although a view's SQL rarely changes
    between builds. `stable_view` keeps a fingerprint of the SQL in the view's comment: a build
    whose SQL has the fingerprint of the existing view leaves it as it is, any other build
    (a new view, changed SQL, --full-refresh, a comment set by hand) creates it as `view` would
    and writes the fingerprint. -#}
{%- materialization stable_view, default -%}
    {%- set target_relation = this.incorporate(type='view') -%}
    {%- set existing_relation = load_cached_relation(this) -%}
    {%- set fingerprint = 'stable_view ' ~ local_md5(sql) -%}
    {%- if existing_relation is not none and existing_relation.is_view and not should_full_refresh() -%}
        {%- call statement('main', fetch_result=True) -%}
            {{ stable_view_comment_sql(existing_relation) }}
        {%- endcall -%}
        {%- set rows = load_result('main')['data'] -%}
        {%- if rows and rows[0][0] == fingerprint -%}
            {{ run_hooks(pre_hooks) }}
            {{ run_hooks(post_hooks) }}
            {{ return({'relations': [target_relation]}) }}
        {%- endif -%}
    {%- endif -%}
    {%- set result = dbt.materialization_view_default() -%}
    {%- call statement('stable_view_fingerprint') -%}
        comment on view {{ target_relation }} is '{{ fingerprint }}'
    {%- endcall -%}
    {{ adapter.commit() }}
    {{ return(result) }}
{%- endmaterialization -%}

{% macro stable_view_comment_sql(relation) -%}
    {{ return(adapter.dispatch('stable_view_comment_sql', 'monitoring_platform')(relation)) }}
{%- endmacro %}

{% macro default__stable_view_comment_sql(relation) -%}
    select obj_description(cast('{{ relation.include(database=False) }}' as regclass), 'pg_class')
{%- endmacro %}

{% macro duckdb__stable_view_comment_sql(relation) -%}
    select comment from duckdb_views()
    where database_name = '{{ relation.database }}' and schema_name = '{{ relation.schema }}'
      and view_name = '{{ relation.identifier }}'
{%- endmacro %}
