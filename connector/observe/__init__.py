"""What a running connector shows: metrics and traces (OpenTelemetry), and its probes."""
