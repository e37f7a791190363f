"""Journal research: therapeutic topics in conversations trigger academic searches for grounding."""
