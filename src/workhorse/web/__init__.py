"""The web console at ``/``: server-rendered pages over the same services as the API.

Every page works with JavaScript off: an action is an HTML form POST, answered with a
redirect to the page that shows its result (POST, redirect, GET). ``static/console.js``
enhances what it can (answers streamed as they are generated, Stop without a reload).
Signing in exchanges an API key for a server-side session (``store/console_sessions.py``);
what a visitor sees and may do follows that key's project and scopes.
"""
