"""A local, stateful stand-in for the part of Stripe's v1 API the service uses.

Never real Stripe: every response carries `Stripe-Sandbox: platform_service`.
Entry points: `server.SandboxServer` (in-process) and `server.run_standalone`.
"""
