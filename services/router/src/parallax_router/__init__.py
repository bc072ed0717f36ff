"""The router: for every command, the primary and the shadow (the decision is parallax_rollout's)."""
