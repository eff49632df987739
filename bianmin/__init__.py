"""bianmin."""
