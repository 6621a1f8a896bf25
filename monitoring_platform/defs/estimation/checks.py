"""The check of a day's estimated quality: the same limits as realized quality, before labels."""

from monitoring_platform.lib.estimation_stage import ESTIMATED_QUALITY

# The estimate's check, one result per partition: name to description.
ESTIMATION_CHECKS = {
    ESTIMATED_QUALITY: "Quality estimated before labels meets the configured quality limits."
}
