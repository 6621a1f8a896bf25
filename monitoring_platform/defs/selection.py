"""What one evaluation of a model covers.

Every materializable asset under its key prefix, and their checks. Used by the demo, the
schedule, the sensors and the tests alike.
"""

from dagster import AssetSelection

from monitoring_platform.defs.keys import LOG_OBJECTS, WAREHOUSE_PREFIX, model_asset_key


def model_evaluation_selection(model: str) -> AssetSelection:
    """A model's assets and checks, and the shared dbt models under ``warehouse/``.

    The log objects (written by the web service) are left out; a run rebuilds only its model's
    rows of the dbt models.
    """
    return (
        AssetSelection.key_prefixes([model]) | AssetSelection.key_prefixes([WAREHOUSE_PREFIX])
    ) - AssetSelection.assets(model_asset_key(model, LOG_OBJECTS))
