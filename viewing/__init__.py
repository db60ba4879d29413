"""Seeing a topology: drawings, networkx views and statistics of dialogue graphs.

Kept out of :mod:`graphs`, the plugin authors' contract, so that importing
the builders loads neither matplotlib nor networkx.
"""
