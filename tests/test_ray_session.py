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


_STUBBORN = ("import signal, sys, time\n"
             "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
             "log = open(sys.argv[1], 'w')\n"
             "print('ready', flush=True)\n"
             "time.sleep(60)\n")
"""A process that holds a log file open and takes SIGTERM without ending, as Ray's agents
left by a Ctrl-C did."""


def _stubborn(path, new_session=False):
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", _STUBBORN, str(path)],
                            stdout=subprocess.PIPE, text=True, start_new_session=new_session)
    assert proc.stdout.readline().strip() == "ready"
    return proc


def test_a_ctrl_c_while_ray_starts_ends_what_it_started(tmp_path, monkeypatch):
    """A Ctrl-C while a local Ray started (the whole terminal process group gets it) left
    ray::DashboardAgent and ray::RuntimeEnvAgent running for good, in 2 of 5 tries of an
    outsider's fuzzing (3 of 3 here at 3 s into `neuroq sweep`): ray.init was interrupted
    before `ray.shutdown` knew of an instance. Now the processes holding files in the
    session folder are ended (SIGTERM, then SIGKILL), the folder removed, the interrupt
    raised on. A fake Ray stands in: its init starts such a process, then is interrupted."""
    from neuroq.agents import ray_session

    started = {}
    other = _stubborn(tmp_path / "elsewhere.log")  # not the session's: left alone

    class FakeRay:
        shutdowns = 0

        def init(self, **kwargs):
            folder = os.path.join(kwargs["_temp_dir"], "session_x", "logs")
            os.makedirs(folder)
            started["proc"] = _stubborn(os.path.join(folder, "dashboard_agent.out"))
            started["temp"] = kwargs["_temp_dir"]
            raise KeyboardInterrupt

        def shutdown(self):
            FakeRay.shutdowns += 1

    monkeypatch.setattr(ray_session, "import_ray", lambda: FakeRay())
    monkeypatch.setattr(ray_session, "SESSION_END_TIMEOUT_S", 0.5)
    monkeypatch.setattr(ray_session, "remove_stale_sessions", lambda base: [])
    try:
        with pytest.raises(KeyboardInterrupt):
            ray_session._init(1, None)
        assert started["proc"].wait(timeout=5) == -9  # SIGTERM ignored: killed
        assert FakeRay.shutdowns == 1 and not os.path.exists(started["temp"])
        assert other.poll() is None
    finally:
        for proc in (other, started.get("proc")):
            if proc is not None:
                proc.kill()
                proc.wait()


def test_session_processes_are_those_holding_files_in_the_session_folder(tmp_path):
    from neuroq.agents import ray_session

    (tmp_path / "s").mkdir()
    inside, outside = _stubborn(tmp_path / "s" / "a.log"), _stubborn(tmp_path / "s.log")
    # another terminal's `tail -f` of a log there: another session, left alone (the review)
    reader = _stubborn(tmp_path / "s" / "b.log", new_session=True)
    try:
        assert ray_session.session_processes(str(tmp_path / "s")) == [inside.pid]
        assert ray_session.session_processes(str(tmp_path / "nothing")) == []
    finally:
        for proc in (inside, outside, reader):
            proc.kill()
            proc.wait()


def test_an_old_session_folder_without_an_owner_file_is_removed(tmp_path):
    """A second Ctrl-C during a sweep's cleanup left /tmp/nq-ray-* folders without their
    owner file (an outsider: 4 of 12 double Ctrl-Cs), which no later session removed. One
    older than OWNERLESS_STALE_S is debris; a new one may be a folder being made: kept."""
    import time

    from neuroq.agents import ray_session

    old = tmp_path / f"{ray_session.TEMP_PREFIX}old"
    new = tmp_path / f"{ray_session.TEMP_PREFIX}new"
    for folder in (old, new):
        (folder / "session_x").mkdir(parents=True)
    past = time.time() - ray_session.OWNERLESS_STALE_S - 5
    os.utime(old, (past, past))
    assert ray_session.remove_stale_sessions(str(tmp_path)) == [str(old)]
    assert not old.exists() and new.exists()


@pytest.mark.parametrize("term_during_init", [False, True])
def test_ray_s_sigterm_handler_neither_meets_a_start_up_nor_outlives_the_session(
        monkeypatch, term_during_init):
    """ray.init installs its own SIGTERM handler (sys.exit(15)): an outsider's SIGTERM during
    Ray's start-up exited 15 without the "interrupted" line, and after the session Ray's
    handler stayed, so a SIGTERM during a sweep's summary did the same. A fake Ray
    installs such a handler (and, the second time, is stopped by it during init)."""
    import signal
    import sys
    import types

    from neuroq.agents import ray_session
    from neuroq.agents.runs import Terminated, raise_terminated

    def rays_handler(signum, _frame):
        sys.exit(signum)

    class FakeRay:
        util = types.SimpleNamespace(get_node_ip_address=lambda: ray_session.LOCALHOST)

        def is_initialized(self):
            return False

        def init(self, **kwargs):
            signal.signal(signal.SIGTERM, rays_handler)
            if term_during_init:
                rays_handler(signal.SIGTERM, None)

        def shutdown(self):
            pass

    def ours(_signum, _frame):
        raise AssertionError("not called")

    monkeypatch.setattr(ray_session, "import_ray", lambda: FakeRay())
    monkeypatch.setattr(ray_session, "remove_stale_sessions", lambda base: [])
    monkeypatch.setattr(ray_session, "_loaded", lambda: set())
    before = signal.signal(signal.SIGTERM, ours)
    try:
        if term_during_init:
            with pytest.raises(Terminated), ray_session.ray_session(1):
                pass
        else:
            with ray_session.ray_session(1):
                assert signal.getsignal(signal.SIGTERM) is raise_terminated
        assert signal.getsignal(signal.SIGTERM) is ours
    finally:
        signal.signal(signal.SIGTERM, before)
