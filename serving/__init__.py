"""What a decision service imports: ``from serving import DecisionEngine``."""

from serving.engine import DecisionEngine, ServingConfig

__all__ = ["DecisionEngine", "ServingConfig"]
