{#- numerator / denominator as double precision; null when the denominator is zero. -#}
{% macro ratio(numerator, denominator, scale=1) -%}
    case when {{ denominator }} > 0
         then cast({{ numerator }} as double precision) * {{ scale }} / {{ denominator }} end
{%- endmacro %}
