"""Training: quizzes generated from published articles, taken by agents, with results.

Importing the package registers its tables on ``kb.models.Base`` so migrations and their schema check see them.
"""
from . import models  # noqa: F401
