"""Pictures of causal graphs, class views, explanations and pruning curves."""
