"""Asyncio Asterisk Manager Interface client: protocol (framing), messages, client (manager)."""
