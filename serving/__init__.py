"""What a decision service imports. The DecisionEngine arrives with the serving issue."""

__all__: list[str] = []
