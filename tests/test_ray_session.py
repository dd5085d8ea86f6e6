"""The local Ray session's setup that needs no Ray started (tests/test_scale.py starts one)."""

import os

import pytest


def test_a_temporary_folder_too_long_for_rays_sockets_is_not_used(tmp_path, monkeypatch):
    """Under a long TMPDIR `neuroq sweep` was an OSError traceback from Ray ("AF_UNIX path
    length cannot exceed 107 bytes"): the session folder goes to /tmp then, or a line
    says what to do"""
    import tempfile

    from neuroq.agents import ray_session
    from neuroq.deploy.errors import NeuroqError

    long = tmp_path / ("x" * 60)
    long.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(long))
    assert ray_session._temp_base() == ray_session.SHORT_TEMP_BASE
    short = tempfile.mkdtemp(dir="/tmp", prefix="nq-")
    try:
        monkeypatch.setattr(tempfile, "tempdir", short)
        assert ray_session._temp_base() == short
    finally:
        os.rmdir(short)
    monkeypatch.setattr(tempfile, "tempdir", str(long))
    monkeypatch.setattr(ray_session, "SHORT_TEMP_BASE", str(long / "nowhere"))
    with pytest.raises(NeuroqError, match="too long a path for Ray's sockets .* set TMPDIR"):
        ray_session._temp_base()
