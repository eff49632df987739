"""township_agent."""
