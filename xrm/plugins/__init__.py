"""Plugins (DESIGN decision 7): the hook specification, discovery, and the built-in plugins.

``spec`` says what a plugin may provide, ``manager`` finds and calls them;
``webhook`` and ``email`` are xrm's own plugins, registered through the same
``xrm.plugins`` entry-point group as anyone else's (docs/plugins.md).
"""
