-- A model-version-day cannot have more successful predictions than requests (the run's window).
-- Checked on the business mart, whose rows it judges (Dagster shows it as that asset's check).
{{ config(meta={'dagster': {'ref': {'name': 'fct_model_daily_business_metrics'}}}) }}
with business as (
    select * from {{ ref('fct_model_daily_business_metrics') }}
    where {{ metric_window_filter('metric_date') }}
)

select b.model_name, b.metric_date, b.model_version, b.predictions, s.requests
from business as b
left join {{ ref('fct_model_daily_system_metrics') }} as s
    on s.model_name = b.model_name
    and s.metric_date = b.metric_date
    and s.model_version = b.model_version
where s.requests is null or b.predictions > s.requests
