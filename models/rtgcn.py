"""RT-GCN: the relational temporal graph layers."""
from __future__ import annotations

from torch import Tensor, nn
from torch_geometric.nn import RGCNConv, TransformerConv


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

    Shapes:
        - **input:** nodes :math:`(N, H)`, edge_index :math:`(2, E)`,
          edge_type :math:`(E)` sorted ascending
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

    def forward(self, x: Tensor, edge_index: Tensor, edge_type: Tensor) -> Tensor:
        # Builders emit edges sorted by relation, so RGCN may skip its sort.
        h = self.relational(x, edge_index, edge_type)
        h = self.attention(h, edge_index)
        return self.act(self.norm(h))
