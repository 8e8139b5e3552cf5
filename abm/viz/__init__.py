"""The browser page: watch and steer a county (SolaraViz)."""
