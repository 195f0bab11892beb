"""Text encoders for semantic search; pick one with :func:`create_encoder` (``KB_EMBED_MODEL``)."""
from .base import Encoder, QueryCache
from .factory import create_encoder

__all__ = ["Encoder", "QueryCache", "create_encoder"]
