"""Distribution: strategies, clusters, devices."""
