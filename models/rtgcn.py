"""RT-GCN: the relational temporal graph layers."""
from __future__ import annotations

from torch import Tensor, nn
from torch_geometric.nn import RGCNConv, TransformerConv

from .dense_attention import dense_transformer_conv


class RTGCN(nn.Module):
    r"""``RGCNConv`` then ``TransformerConv`` (heads concatenated),
    BatchNorm and LeakyReLU, as in CORECT.

    Messages only travel along the given edges, so on a causal graph no node
    sees a later turn; at evaluation BatchNorm uses running statistics and
    mixes nothing across nodes.

    Args:
        hidden (int): Node width in.
        num_relations (int): Relations of the edge builder.
        heads (int): ``TransformerConv`` heads.

    Given each node's dialogue, the ``TransformerConv`` is evaluated as
    dense attention per dialogue (:func:`dense_transformer_conv`), the same
    function of the same weights, several times faster on CPU.

    Shapes:
        - **input:** nodes :math:`(N, H)`, edge_index :math:`(2, E)`,
          edge_type :math:`(E)` sorted ascending, and optionally the
          dialogue of every node :math:`(N)`
        - **output:** :math:`(N, H \cdot heads)`
    """

    def __init__(self, hidden: int, num_relations: int, heads: int) -> None:
        super().__init__()
        self.relational = RGCNConv(hidden, hidden, num_relations, is_sorted=True)
        self.attention = TransformerConv(hidden, hidden, heads=heads, concat=True)
        self.norm = nn.BatchNorm1d(hidden * heads)
        self.act = nn.LeakyReLU()

    @property
    def out_dim(self) -> int:
        return self.norm.num_features

    def forward(self, x: Tensor, edge_index: Tensor, edge_type: Tensor,
                dialogue: Tensor | None = None) -> Tensor:
        # Builders emit edges sorted by relation, so RGCN may skip its sort.
        h = self.relational(x, edge_index, edge_type)
        if dialogue is None:
            h = self.attention(h, edge_index)
        else:
            h = dense_transformer_conv(self.attention, h, edge_index, dialogue)
        return self.act(self.norm(h))
