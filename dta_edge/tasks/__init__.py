"""Problem sources, answer extraction and scoring."""
