"""Retention: deleting record bodies when the terms' retention ends, legal holds, review-due warnings."""
