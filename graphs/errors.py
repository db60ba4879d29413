"""The error of a builder that breaks its contract, raised where the
contract is checked (:mod:`graphs.validate`) and where a builder reads
content it did not declare (:meth:`graphs.DialogueBatch.restricted`)."""


class GraphContractError(ValueError):
    """A builder's output breaks the contract of :class:`EdgeBuilder`."""


class UndeclaredReadError(GraphContractError):
    """A builder read content that its :meth:`~graphs.EdgeBuilder.reads`
    did not declare.

    Args:
        detail (str): What was read and what was declared, without the
            reader, so that :func:`graphs.validate` can name the builder
            as the registry knows it.
        reader (str): Who read it, e.g. ``edge builder SkipEdges``.
    """

    def __init__(self, detail: str, reader: str) -> None:
        super().__init__(f"{reader}: {detail}")
        self.detail = detail
        self.reader = reader
