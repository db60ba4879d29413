import sys

import pytest

from runner.config import ConfigError
from runner.tensorboard_log import TensorBoardLog

LABELS = ["happy", "sad", "neutral"]
HISTORY = [{"epoch": 1, "loss": 1.5, "dev_weighted_f1": 40.25, "lr": 1e-3},
           {"epoch": 2, "loss": 0.75, "dev_weighted_f1": 55.5, "lr": 5e-4}]


def test_a_run_reads_back_from_the_event_file(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    log_dir = tmp_path / "tensorboard"
    with TensorBoardLog(log_dir) as log:
        log.config("dataset:\n  name: iemocap\nseed: 0\n")
        for row in HISTORY:
            log.epoch(row)
        log.confusion([[5, 1, 0], [0, 0, 0], [2, 0, 7]], LABELS, step=2)
    events = EventAccumulator(str(log_dir), size_guidance={"images": 0, "scalars": 0,
                                                           "tensors": 0})
    events.Reload()
    tags = events.Tags()
    assert sorted(tags["scalars"]) == ["dev/weighted_f1", "train/loss", "train/lr"]

    def scalars(tag):
        return [(e.step, e.value) for e in events.Scalars(tag)]
    # Event files store 32-bit floats.
    assert scalars("train/loss") == [(1, 1.5), (2, 0.75)]
    assert scalars("dev/weighted_f1") == [(1, 40.25), (2, 55.5)]
    assert [s for s, _ in scalars("train/lr")] == [1, 2]
    assert [v for _, v in scalars("train/lr")] == pytest.approx([1e-3, 5e-4])

    assert "config/text_summary" in tags["tensors"]
    text, = events.Tensors("config/text_summary")
    assert text.tensor_proto.string_val == [
        b"```yaml\ndataset:\n  name: iemocap\nseed: 0\n```"]

    assert tags["images"] == ["test/confusion"]
    image, = events.Images("test/confusion")
    assert image.step == 2
    assert image.encoded_image_string[:8] == b"\x89PNG\r\n\x1a\n"
    assert image.width > 100 and image.height > 100


def test_an_epoch_row_needs_its_epoch(tmp_path):
    pytest.importorskip("tensorboard")
    with TensorBoardLog(tmp_path) as log, pytest.raises(ValueError, match="'epoch'"):
        log.epoch({"loss": 1.0})


def test_missing_tensorboard_is_a_config_error(tmp_path, monkeypatch):
    # None in sys.modules makes the import fail as an absent package does.
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    with pytest.raises(ConfigError, match=r"log=tensorboard needs TensorBoard: "
                                          r"pip install 'ergraph\[tensorboard\]'"):
        TensorBoardLog(tmp_path / "tensorboard")
    assert not (tmp_path / "tensorboard").exists()
