select
    model_name,
    dt as event_date,
    request_id,
    event_type,
    event_kind,
    value,
    occurred_at
from {{ source('platform', 'business_events') }}
