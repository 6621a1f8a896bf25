-- The busiest minute cannot hold more requests than the whole day.
select model_name, metric_date, model_version, peak_requests_per_minute, requests
from {{ ref('fct_model_daily_system_metrics') }}
where peak_requests_per_minute > requests
