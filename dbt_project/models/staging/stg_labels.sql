select
    model_name,
    dt as arrival_date,
    request_id,
    label,
    label_value,
    labeled_at
from {{ source('platform', 'labels') }}
