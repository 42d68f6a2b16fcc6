"""anomaly — A-share price anomalies, linked to the rumors and news that moved them."""
__version__ = "0.1.0"
