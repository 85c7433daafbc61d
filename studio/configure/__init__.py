"""Choose and configure a run: the catalogue, the parameter forms, presets, examples, hardware."""
