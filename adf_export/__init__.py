"""Azure Data Factory export: pipelines, datasets, linked services and triggers (Git layout and ARM template)."""
