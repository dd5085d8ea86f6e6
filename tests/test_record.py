"""`neuroq record`: an event env's stream written to a .raw file that reads back as written."""

import numpy as np
import pytest

from neuroq.agents.cli.main import main
from neuroq.agents.record import record_events
from neuroq.deploy.events import RawReader
from neuroq.deploy.rollout import make_env
from neuroq.envs.event_array import concat_events, from_columns
from tests.helpers import REPO_ROOT
from tests.helpers.artifacts import count_manifest_reads
from tests.helpers.decoders import DECODERS

EVENT_ARTIFACT = REPO_ROOT / "config" / "artifacts" / "dvs_pan_tracking"


def _read(path, decoder="auto"):
    reader = RawReader(path, decoder=decoder)
    parts, skipped = [], 0
    for events, stats in reader:
        parts.append(events)
        skipped += stats.skipped
    _read.time_us = reader.time_us
    return (reader.width, reader.height), concat_events(parts), skipped


@pytest.mark.parametrize("decoder", DECODERS)
def test_a_recording_reads_back_as_the_env_gave_it(tmp_path, decoder):
    path = tmp_path / "pan.raw"
    rec = record_events(path, seconds=1.5, seed=7)
    size, events, skipped = _read(path, decoder)
    assert size == (32, 32) and skipped == 0 and events.size == rec.events > 1000
    t = events["t"]
    assert t.min() > 0 and t.max() <= 1_500_000 and np.all(np.diff(t) >= 0)
    assert rec.camera_s == 1.5 and rec.episodes >= 2  # random actions lose the target soon
    assert _read.time_us == 1_500_000  # time words to the end: the last period is complete
    # the first episode's steps, replayed with the same seeds, are the file's first events
    env, rng = make_env(rec.env_id), np.random.default_rng(7)
    _, info = env.reset(seed=7)
    first = [from_columns(info["events"])]
    for _ in range(5):
        _, _, term, trunc, info = env.step(int(rng.integers(3)))
        first.append(from_columns(info["events"]))
        assert not (term or trunc)
    first = concat_events(first)
    got = events[:first.size]
    order = np.lexsort((got["x"], got["y"], got["p"], got["t"]))
    want = first[np.lexsort((first["x"], first["y"], first["p"], first["t"]))]
    np.testing.assert_array_equal(got[order], want)


def test_recordings_are_reproducible_and_an_artifact_drives_them(tmp_path):
    a, b, c = (tmp_path / f"{n}.raw" for n in "abc")
    record_events(a, seconds=0.5, seed=3)
    record_events(b, seconds=0.5, seed=3)
    record_events(c, seconds=0.5, seed=4)
    assert a.read_bytes() == b.read_bytes() != c.read_bytes()
    rec = record_events(tmp_path / "art.raw", seconds=2.0, artifact=str(EVENT_ARTIFACT))
    assert rec.env_id == "neuroq/DVSPanTrackingPooled-v0" and rec.steps == 199
    assert rec.episodes == 1  # the trained policy keeps the target for the whole 2 s


def test_record_on_the_command_line_and_its_errors(tmp_path, capsys):
    out = tmp_path / "x.raw"
    assert main(["record", str(out), "--seconds", "0.3"]) == 0
    printed = capsys.readouterr().out
    assert "wrote" in printed and "neuroq replay" in printed and out.stat().st_size > 100
    for argv, fragment in [
        (["--env", "CartPole-v1"], "has no DVS"),
        (["--artifact", str(REPO_ROOT / "config" / "artifacts" / "cartpole")],
         "not an event encoder"),
        (["--seconds", "0"], "must be > 0"),
        (["--seconds", "4000"], "at most 3600"),
        (["--artifact", str(EVENT_ARTIFACT), "--env", "neuroq/DVSPanTracking-v0"],
         "controls neuroq/DVSPanTrackingPooled-v0"),
    ]:
        code = main(["record", str(tmp_path / "y.raw"), *argv])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1 and fragment in err[0], (argv, err)
    assert main(["record", str(tmp_path / "y.txt")]) == 2
    assert "must end in .raw" in capsys.readouterr().err


def test_time_words_after_the_last_event(tmp_path):
    from neuroq.deploy.errors import NeuroqError
    from neuroq.deploy.events import RawWriter, make_events

    path = tmp_path / "t.raw"
    with RawWriter(path, 32, 32) as w:
        w.write(make_events([1], [2], [20_000_000], [1]))  # past one 24-bit wrap
        w.write_time(20_004_000)
        with pytest.raises(NeuroqError, match="before the last event"):
            w.write_time(19_000_000)
        with pytest.raises(NeuroqError, match="too far after it"):
            w.write_time(30_000_000)
    _, events, skipped = _read(path)
    assert events["t"].tolist() == [20_000_000 - (1 << 24)] and skipped == 0
    assert _read.time_us == 20_004_000 - (1 << 24)  # a fresh reader cannot know the wrap


class _ClosingEnv:
    """A make_env stand-in that counts close() calls of the env it wraps."""

    def __init__(self, env, closed):
        self._env, self._closed = env, closed

    def __getattr__(self, name):
        return getattr(self._env, name)

    def close(self):
        self._closed.append(True)
        self._env.close()


@pytest.mark.parametrize("case", ["done", "no dvs", "unwritable", "no events", "interrupted"])
def test_record_closes_its_env_once_however_it_ends(tmp_path, monkeypatch, case):
    import neuroq.deploy.rollout as rollout
    from neuroq.deploy.errors import NeuroqError

    closed = []
    real = rollout.make_env
    monkeypatch.setattr(rollout, "make_env", lambda env_id: _ClosingEnv(real(env_id), closed))
    path = tmp_path / "x.raw"
    env_id, progress = None, None
    if case == "no dvs":
        env_id = "CartPole-v1"
    elif case == "unwritable":
        path = tmp_path / "missing" / "x.raw"
    elif case == "no events":
        monkeypatch.setattr(_ClosingEnv, "reset", lambda self, **kw: (None, {}), raising=False)
    elif case == "interrupted":
        def progress(camera_s):
            raise KeyboardInterrupt
    expected = {"done": None, "no dvs": NeuroqError, "unwritable": NeuroqError,
                "no events": NeuroqError, "interrupted": KeyboardInterrupt}[case]
    if expected is None:
        record_events(path, env_id, seconds=0.2, progress=progress)
    else:
        with pytest.raises(expected):
            record_events(path, env_id, seconds=0.2, progress=progress)
    assert closed == [True]


def test_record_reads_its_artifact_once(tmp_path, capsys, monkeypatch):
    """`neuroq record --artifact` read the manifest for its check, then loaded it again."""

    reads = count_manifest_reads(monkeypatch)
    out = tmp_path / "x.raw"
    code = main(["record", str(out), "--seconds", "0.1", "--artifact", str(EVENT_ARTIFACT)])
    assert code == 0, capsys.readouterr().err
    assert out.exists() and reads == [str(EVENT_ARTIFACT)]
