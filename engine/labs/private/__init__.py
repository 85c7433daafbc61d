"""Lab 4, private training: DP-SGD from a random start and from a start pretrained on public data."""
