"""Run side by side: the run queue, the engine processes it starts, and its view."""
