-- Business KPIs per model, day and model version, over the successful predictions of the day:
-- click-through rate (predictions clicked), conversion rate (predictions converted) and revenue
-- per 1,000 predictions. Events count towards the day of the call they follow.
with calls as (
    select * from {{ ref('int_request_outcomes') }}
    where {{ metric_window_filter('metric_date') }}
),

totals as (
    select
        model_name,
        metric_date,
        model_version,
        sum(is_success) as predictions,
        sum(clicked) as clicks,
        sum(converted) as conversions,
        sum(revenue) as revenue
    from calls
    group by model_name, metric_date, model_version
)

select
    cast(model_name as varchar) as model_name,
    cast(metric_date as date) as metric_date,
    cast(model_version as varchar) as model_version,
    cast(predictions as bigint) as predictions,
    cast(clicks as bigint) as clicks,
    cast(conversions as bigint) as conversions,
    cast(revenue as double precision) as revenue,
    cast({{ ratio('clicks', 'predictions') }} as double precision) as click_through_rate,
    cast({{ ratio('conversions', 'predictions') }} as double precision) as conversion_rate,
    cast({{ ratio('revenue', 'predictions', 1000) }} as double precision) as revenue_per_1k_predictions
from totals
