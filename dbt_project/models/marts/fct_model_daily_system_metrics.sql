-- System metrics per model, day and model version. Latency percentiles are continuous
-- (linear interpolation) over the calls that were not throttled (a 429 never reached the model).
with calls as (
    select * from {{ ref('int_request_outcomes') }}
    where {{ metric_window_filter('metric_date') }}
),

counts as (
    select
        model_name,
        metric_date,
        model_version,
        count(*) as requests,
        sum(is_server_error) as server_errors,
        sum(is_throttled) as throttled_requests
    from calls
    group by model_name, metric_date, model_version
),

per_minute as (
    select model_name, metric_date, model_version, request_minute, count(*) as minute_requests
    from calls
    group by model_name, metric_date, model_version, request_minute
),

peaks as (
    select model_name, metric_date, model_version, max(minute_requests) as peak_requests_per_minute
    from per_minute
    group by model_name, metric_date, model_version
),

latency as (
    select
        model_name,
        metric_date,
        model_version,
        {{ percentile_cont('latency_ms', 0.5) }} as latency_p50_ms,
        {{ percentile_cont('latency_ms', 0.95) }} as latency_p95_ms,
        {{ percentile_cont('latency_ms', 0.99) }} as latency_p99_ms
    from calls
    where is_throttled = 0
    group by model_name, metric_date, model_version
)

select
    cast(counts.model_name as varchar) as model_name,
    cast(counts.metric_date as date) as metric_date,
    cast(counts.model_version as varchar) as model_version,
    cast(counts.requests as bigint) as requests,
    cast(peaks.peak_requests_per_minute as bigint) as peak_requests_per_minute,
    cast(latency.latency_p50_ms as double precision) as latency_p50_ms,
    cast(latency.latency_p95_ms as double precision) as latency_p95_ms,
    cast(latency.latency_p99_ms as double precision) as latency_p99_ms,
    cast(counts.server_errors as bigint) as server_errors,
    cast(counts.throttled_requests as bigint) as throttled_requests,
    cast({{ ratio('counts.server_errors', 'counts.requests') }} as double precision) as error_rate,
    cast({{ ratio('counts.throttled_requests', 'counts.requests') }} as double precision) as throttle_rate
from counts
inner join peaks
    on peaks.model_name = counts.model_name
    and peaks.metric_date = counts.metric_date
    and peaks.model_version = counts.model_version
left join latency
    on latency.model_name = counts.model_name
    and latency.metric_date = counts.metric_date
    and latency.model_version = counts.model_version
