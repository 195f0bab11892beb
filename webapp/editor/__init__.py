"""The editor workspace (editors and admins): articles and publishing, history, content health, import and export.

``blueprint.py`` holds the one blueprint and the helpers every page shares; each module beside it adds the routes of
one area. Importing the package registers them all.
"""
from . import articles, content, history  # noqa: F401  (each adds its routes to ``bp``)
from .blueprint import bp

__all__ = ["bp"]
