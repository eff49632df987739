"""county_hub."""
