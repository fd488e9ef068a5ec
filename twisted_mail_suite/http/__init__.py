# -*- test-case-name: tests.http -*-
"""
The HTTP listener: web pages, the chat over WebSocket, the JSON API and metrics.
"""
