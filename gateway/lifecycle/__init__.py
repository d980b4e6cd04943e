"""What happens to a record after it was shared: corrections, retractions, onward sharing, discrepancies."""
