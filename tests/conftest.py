"""Test harness: real PostgreSQL, real Redis, the local Stripe sandbox over HTTP.

PostgreSQL and Redis must be reachable (the test command starts them); a test
that needs them fails loudly when they are not, it never skips.
"""

pytest_plugins = [
    "tests.fixtures.services",
    "tests.fixtures.sandbox",
    "tests.fixtures.app",
]
