"""MM-RealSR (Mou et al., ECCV 2022): generator, estimator, config and key-based detection."""

from .config import OFFICIAL_CONFIG, MMRealSRConfig
from .detect import REQUIRED_KEYS, detect_config, fitted_network, resolve_config
from .estimator import DegradationEstimator
from .generator import MMRealSR

__all__ = ["OFFICIAL_CONFIG", "REQUIRED_KEYS", "DegradationEstimator", "MMRealSR", "MMRealSRConfig", "detect_config",
           "fitted_network", "resolve_config"]
