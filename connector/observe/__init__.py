"""What a running connector shows: logs, metrics and traces (OpenTelemetry), and its probes."""
