"""MOU Gateway: signed-record exchange between the PA, CO and US removal-flight partners."""

__version__ = "0.1.0"
