"""graphdet: behavioural email-attack detection on tenant communication graphs."""

from graphdet.exceptions import GraphdetError
from graphdet.schema import (
    Address,
    Attachment,
    AuthResult,
    AuthResults,
    Category,
    Decision,
    Direction,
    Label,
    Message,
    Url,
    Verdict,
)

__version__ = "0.1.0"

__all__ = [
    "Address",
    "Attachment",
    "AuthResult",
    "AuthResults",
    "Category",
    "Decision",
    "Direction",
    "GraphdetError",
    "Label",
    "Message",
    "Url",
    "Verdict",
    "__version__",
]
