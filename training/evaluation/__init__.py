"""What a model says about photos it never saw: outcomes, metrics, label review, report."""
