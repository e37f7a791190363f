"""Ready packages: dataset card, versioned checksummed package."""
