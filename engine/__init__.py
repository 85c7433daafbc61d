"""Tradeoff Studio's headless engine: specs, registry, store, runner and labs. Never imports Qt."""
