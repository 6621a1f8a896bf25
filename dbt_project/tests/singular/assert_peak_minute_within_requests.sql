-- The busiest minute cannot hold more requests than the whole day (the run's window).
select model_name, metric_date, model_version, peak_requests_per_minute, requests
from {{ ref('fct_model_daily_system_metrics') }}
where peak_requests_per_minute > requests
    and {{ metric_window_filter('metric_date') }}
