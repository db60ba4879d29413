from dataclasses import dataclass

import pytest

from graphs import EdgeBuilder, NoEdges, WindowEdges
from registry import EdgeBuilderRegistry, UnknownEdgeBuilderError


@pytest.fixture
def registry():
    return EdgeBuilderRegistry(entry_points=False)


def test_builtins_are_listed_sorted_with_descriptions(registry):
    listed = registry.list()
    assert [name for name, _ in listed] == [
        "causal", "corect", "dag", "mmgcn", "modality", "none", "similarity", "speaker",
        "union", "window"]
    assert dict(listed)["window"] == "Bidirectional temporal window within each modality."


def test_get_passes_keyword_parameters(registry):
    assert registry.get("window", past=2, future=0) == WindowEdges(2, 0)


def test_unknown_parameter_lists_accepted_ones(registry):
    with pytest.raises(TypeError, match="no parameter\\(s\\) wp; accepted: "
                                        "past, future, self_loops"):
        registry.get("window", wp=3)


def test_unknown_name_lists_choices_and_closest_match(registry):
    with pytest.raises(UnknownEdgeBuilderError,
                       match="unknown edge builder 'windw'; choices: causal, corect, "
                             "dag, mmgcn, modality, none, similarity, speaker, union, "
                             "window. "
                             "Did you mean 'window'\\?"):
        registry.get("windw")


def test_decorator_registers_and_duplicates_raise(registry):
    @registry.register("skip")
    @dataclass
    class SkipEdges(NoEdges):
        """Edges that skip a turn."""
    assert "skip" in registry
    assert isinstance(registry.get("skip"), SkipEdges)
    assert ("skip", "Edges that skip a turn.") in registry.list()
    with pytest.raises(ValueError, match="'skip' is already registered by "):
        registry.register("skip", NoEdges)
    with pytest.raises(ValueError, match="'window' is already registered by ergraph"):
        registry.register("window", NoEdges)


@pytest.mark.parametrize("name, factory, match", [
    ("Bad Name", NoEdges, "lower-case letters"),
    ("thing", 3, "not callable"),
    ("thing", dict, "does not subclass graphs.EdgeBuilder"),
])
def test_invalid_registrations_are_refused(registry, name, factory, match):
    with pytest.raises((ValueError, TypeError), match=match):
        registry.register(name, factory)


def test_factory_returning_a_non_builder_is_named(registry):
    registry.register("broken", lambda: "not a builder")
    with pytest.raises(TypeError, match="'broken' from .* returned str"):
        registry.get("broken")


def test_union_resolves_parts_through_its_registry(registry):
    @registry.register("only_here")
    def only_here() -> EdgeBuilder:
        """A builder the default registry does not have."""
        return NoEdges()
    union = registry.get("union", parts={"x": {"builder": "only_here"},
                                         "window": {"past": 1}})
    assert union.relations(["text"]) == ["window/text:past", "window/text:future"]
