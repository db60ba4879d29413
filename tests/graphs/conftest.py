import pytest

from graphs import DialogueBatch


@pytest.fixture
def two_dialogues():
    """Dialogue A: turns 0-2, speakers 0 1 0; dialogue B: turns 0-1,
    speakers 0 1. Utterances 0-4; with two modalities, text nodes 0-4 and
    audio nodes 5-9."""
    return DialogueBatch([3, 2], [0, 1, 0, 0, 1], ("text", "audio"))
