"""Training: quizzes generated from published articles, taken by agents, with results.

Importing the package registers its tables on ``kb.models.Base`` so ``Database.create_all()`` creates them.
"""
from . import models  # noqa: F401
