"""Output heads by name: what the classifier's outputs mean.

>>> from models.heads import HEADS
>>> HEADS["regression"]
<class 'models.heads.regression.RegressionHead'>

A new head is one :class:`Head` subclass and its registration::

    @register_head
    class OrdinalHead(Head):
        name = "ordinal"
        ...

after which ``model.head=ordinal`` selects it.
"""
from __future__ import annotations

import re

from .base import Head, Predictions
from .classification import ClassificationHead
from .regression import RegressionHead

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")

#: Head name -> class: the registration table ``model.head`` is looked up in.
HEADS: dict[str, type[Head]] = {}


def register_head(head: type[Head]) -> type[Head]:
    """Register :obj:`head` under its :attr:`Head.name`; usable as a class
    decorator.

    Raises:
        ValueError: The name is not lowercase ``[a-z][a-z0-9_]*``, or
            another class has it.
    """
    name = getattr(head, "name", None)
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"head {head.__name__} needs a lowercase name, got {name!r}")
    if HEADS.get(name, head) is not head:
        raise ValueError(f"head name {name!r} is taken by {HEADS[name].__name__}")
    HEADS[name] = head
    return head


register_head(ClassificationHead)
register_head(RegressionHead)

__all__ = ["HEADS", "ClassificationHead", "Head", "Predictions", "RegressionHead",
           "register_head"]
