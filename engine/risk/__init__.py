"""Pre-trade risk: `RiskEngine` (seed-compatible `check_order`/`check_batch`, and `check_plan` for rebalance plans).

`RiskLimits` configures `check_plan`; results are a `RiskReport` of `RiskCheck` rows. See `engine.risk.engine`.
"""

from engine.risk.engine import RiskEngine
from engine.risk.limits import RiskLimits
from engine.risk.plan import Exposure, post_trade_exposure
from engine.risk.report import CheckStatus, RiskCheck, RiskReport
from engine.risk.types import ProposedOrder

__all__ = [
    "CheckStatus",
    "Exposure",
    "ProposedOrder",
    "RiskCheck",
    "RiskEngine",
    "RiskLimits",
    "RiskReport",
    "post_trade_exposure",
]
