-- A model-version-day cannot have more successful predictions than requests.
select b.model_name, b.metric_date, b.model_version, b.predictions, s.requests
from {{ ref('fct_model_daily_business_metrics') }} as b
left join {{ ref('fct_model_daily_system_metrics') }} as s
    on s.model_name = b.model_name
    and s.metric_date = b.metric_date
    and s.model_version = b.model_version
where s.requests is null or b.predictions > s.requests
