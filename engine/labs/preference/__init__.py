"""Lab 2: preference optimisation (the DPO family); runs emit loss and metric curves."""
