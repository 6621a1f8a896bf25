-- Each inference call with what followed it: a click, a conversion and its revenue.
-- Events are attributed to their call by request_id, whatever day they happened on.
with outcomes as (
    select
        model_name,
        request_id,
        max(case when event_kind = 'click' then 1 else 0 end) as clicked,
        max(case when event_kind = 'conversion' then 1 else 0 end) as converted,
        sum(case when event_kind = 'conversion' then coalesce(value, 0) else 0 end) as revenue
    from {{ ref('stg_business_events') }}
    group by model_name, request_id
)

select
    calls.model_name,
    calls.metric_date,
    calls.model_version,
    calls.request_id,
    calls.request_minute,
    calls.latency_ms,
    calls.is_success,
    calls.is_server_error,
    calls.is_throttled,
    coalesce(outcomes.clicked, 0) * calls.is_success as clicked,
    coalesce(outcomes.converted, 0) * calls.is_success as converted,
    coalesce(outcomes.revenue, 0) * calls.is_success as revenue
from {{ ref('stg_inference_logs') }} as calls
left join outcomes
    on outcomes.model_name = calls.model_name
    and outcomes.request_id = calls.request_id
