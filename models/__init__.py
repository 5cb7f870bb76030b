"""Models: PyTorch networks, OR-Tools problem builders and the city simulator. No Dagster here."""
