"""Officers' sign-in through their agency's OpenID Connect provider (authorization code + PKCE)."""
