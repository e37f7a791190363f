"""Crisis detection: a pattern layer plus a small linear model, with a fail-closed detector."""
