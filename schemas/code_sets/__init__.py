"""Official code sets shipped with the engine, looked up by date of service."""
