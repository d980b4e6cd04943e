"""Agency API clients: OAuth 2.0 client credentials and access tokens."""
