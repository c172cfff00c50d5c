"""Stands in for Supabase Auth (GoTrue): the subset the page and the local services use.

- ``api``: the routes under ``/auth/v1`` (anonymous sign-in, refresh, the user, sign-out, the
  JWKS). The Realtime gateway serves them on its own port, as a hosted project serves both
  under one host (devstack/realtime/front.py hands ``/auth/v1`` requests here).
- ``signing``: the project's JWT signing keys (ES256 by default, or the legacy HS256 secret);
  the gateway verifies tokens with them too.
- ``keys``: the local JWT secret and the API keys minted from it, as ``supabase start`` does.
"""
