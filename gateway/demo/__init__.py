"""The three-node demonstration: PA, CO and US on loopback, a removal-flight scenario."""
