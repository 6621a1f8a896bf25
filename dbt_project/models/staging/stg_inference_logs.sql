select
    model_name,
    dt as metric_date,
    request_id,
    requested_at,
    model_version,
    prediction_score,
    predicted_class,
    latency_ms,
    status_code,
    case when status_code between 200 and 299 then 1 else 0 end as is_success,
    case when status_code between 500 and 599 then 1 else 0 end as is_server_error,
    case when status_code = 429 then 1 else 0 end as is_throttled,
    {{ dbt.date_trunc('minute', 'requested_at') }} as request_minute
from {{ source('platform', 'inference_logs') }}
