"""The liaison officers' web console: accounts, sessions, review pages and actions."""
