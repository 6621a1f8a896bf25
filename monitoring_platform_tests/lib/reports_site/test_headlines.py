"""Each model's limits on its trend charts come from its configuration."""

from monitoring_platform.lib.reports_site.headlines import model_limits
from monitoring_platform_tests.conftest import small_config_dict


def test_limits_come_from_the_configuration(tmp_path):
    from monitoring_platform.config import ModelConfig

    model = ModelConfig.model_validate(small_config_dict(tmp_path)["models"][0])
    limits = model_limits(model)
    assert [lim.value for lim in limits["drift_share"]] == [
        model.thresholds.drift.drift_share_warn,
        model.thresholds.drift.drift_share_error,
    ]
    assert limits["latency_p95_ms"][0].value == model.thresholds.latency_p95_slo_ms
