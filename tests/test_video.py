"""`neuroq eval --video`: one episode as an animated GIF or MP4, the success figures of eval,
and one-line refusals."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from neuroq.agents.video import record_episode
from neuroq.deploy.errors import NeuroqError
from neuroq.deploy.policy import load_policy
from tests.helpers.artifacts import make_nav_artifact, make_tiny_artifact

ROOT = Path(__file__).resolve().parents[1]
imageio = pytest.importorskip("imageio.v2")


@pytest.fixture(scope="module")
def nav_artifact(tmp_path_factory):
    return make_nav_artifact(tmp_path_factory.mktemp("nav") / "artifact")


@pytest.mark.parametrize("suffix", [".gif", ".mp4"])
def test_an_episode_is_written_frame_by_frame(nav_artifact, tmp_path, suffix):
    if suffix == ".mp4":
        pytest.importorskip("imageio_ffmpeg")
    path = tmp_path / f"episode{suffix}"
    v = record_episode(load_policy(nav_artifact), path, seed=5000, max_steps=12)
    assert v["steps"] == 12 and v["frames"] == 13 and v["fps"] == 5
    if suffix == ".gif":
        frames = imageio.mimread(path)
        assert len(frames) == 13
        assert frames[0].shape[:2] == (416, 416)
        assert not np.array_equal(frames[0], frames[-1])  # the robot moved
    else:
        import imageio_ffmpeg

        assert imageio_ffmpeg.count_frames_and_secs(str(path))[0] == 13


def test_a_video_of_an_environment_that_cannot_render_is_one_line(tmp_path):
    policy = load_policy(make_tiny_artifact(tmp_path / "cartpole"))
    try:
        import pygame  # noqa: F401  (Gymnasium's classic control draws with it)
    except ImportError:
        with pytest.raises(NeuroqError, match="cannot render") as exc:
            record_episode(policy, tmp_path / "x.gif")
        assert "\n" not in str(exc.value)
    with pytest.raises(NeuroqError, match="must end in .gif or .mp4"):
        record_episode(policy, tmp_path / "x.avi")
    with pytest.raises(NeuroqError, match="does not exist"):
        record_episode(policy, tmp_path / "no" / "x.gif")
    (tmp_path / "dir.gif").mkdir()  # ffmpeg failed on it after the whole evaluation
    with pytest.raises(NeuroqError, match="is a folder"):
        record_episode(policy, tmp_path / "dir.gif")


def test_an_env_without_rgb_array_is_one_line_and_no_gymnasium_warning(tmp_path):
    """Gymnasium's coloured UserWarning about render_mode came before neuroq's own line
    saying the same (an outsider)."""
    import warnings

    from neuroq.agents.video import check_video

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with pytest.raises(NeuroqError, match=r"does not render rgb_array \(render modes: "
                                              r"human\); no video"):
            check_video(tmp_path / "x.gif", "tests.helpers.user_envs:HumanRenderOnlyEnv")
    assert not [w for w in seen if "render_mode" in str(w.message)], [
        str(w.message) for w in seen]


def run_cli(*args, cwd):
    code = ("import sys; from neuroq.agents.cli.main import main; sys.exit(main(sys.argv[1:]))")
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1",
                               "PATH": "/usr/bin:/bin"})


def test_eval_prints_success_and_writes_the_video(nav_artifact, tmp_path):
    p = run_cli("eval", nav_artifact, "--episodes", "4", "--seed", "5000", "--max-steps", "40",
                "--out", tmp_path / "runs", "--video", tmp_path / "nav.gif", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "success " in p.stdout and "collisions" in p.stdout
    assert "video " in p.stdout and (tmp_path / "nav.gif").stat().st_size > 1000
    (result,) = (tmp_path / "runs").rglob("eval-emulator-*/result.json")
    r = json.loads(result.read_text())
    assert 0.0 <= r["success_rate"] <= 1.0 and len(r["success"]) == 4
    p = run_cli("eval", nav_artifact, "--video", tmp_path / "nav.png", cwd=tmp_path)
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and ".gif or .mp4" in p.stderr


def test_what_video_needs_is_checked_before_any_episode(nav_artifact, tmp_path, monkeypatch,
                                                        capsys):
    """An outsider's `--video x.mp4` without imageio-ffmpeg, and `neuroq eval cartpole
    --video ep.mp4` without pygame, each ran the whole evaluation and wrote its result
    before failing (a traceback for the MP4). Both are one line now, before any episode."""
    import gymnasium as gym

    from neuroq.agents.cli.main import main

    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)  # its import fails
    out = tmp_path / "runs"
    assert main(["eval", str(nav_artifact), "--video", str(tmp_path / "x.mp4"),
                 "--out", str(out)]) == 2
    assert "needs imageio-ffmpeg" in capsys.readouterr().err and not out.exists()
    monkeypatch.delitem(sys.modules, "imageio_ffmpeg")

    def no_pygame(self):
        raise gym.error.DependencyNotInstalled("pygame is not installed, run `pip install ...`")

    monkeypatch.setattr(gym.Wrapper, "render", no_pygame)
    assert main(["eval", str(nav_artifact), "--video", str(tmp_path / "x.gif"),
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "cannot render: pygame is not installed" in err and err.count("\n") == 1
    assert not out.exists()


def test_the_video_check_leaves_the_users_path_alone(tmp_path):
    """Checking that --video can be written created and removed the file: a reviewer saw
    it remove a user's dangling link. The check writes a file of its own in the folder."""
    from neuroq.agents.video import check_video_path

    kept = tmp_path / "kept.gif"
    kept.write_bytes(b"GIF89a old")
    link = tmp_path / "link.gif"
    link.symlink_to(tmp_path / "nowhere.gif")
    assert check_video_path(kept) == kept and kept.read_bytes() == b"GIF89a old"
    assert check_video_path(link) == link and link.is_symlink()
    assert not (tmp_path / "nowhere.gif").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.gif", "link.gif"]


@pytest.mark.parametrize("suffix", [".gif", ".mp4"])
def test_a_video_cut_short_leaves_the_users_file_as_it_was(nav_artifact, tmp_path, suffix,
                                                           monkeypatch):
    """A Ctrl-C, a kill or a full disk while the video was written left a 48-byte stub or a
    cut video where the user's good one had been (an outsider): it is written beside and
    renamed; a link is written through."""
    if suffix == ".mp4":
        pytest.importorskip("imageio_ffmpeg")
    path = tmp_path / f"ep{suffix}"
    path.write_bytes(b"the user's video")
    link = tmp_path / f"link{suffix}"
    link.symlink_to(path.name)
    real_writer = imageio.get_writer if suffix == ".mp4" else imageio.mimsave

    def cut_short(uri, *args, **kwargs):
        Path(uri).write_bytes(b"half")  # part of a file, then the interrupt
        raise KeyboardInterrupt

    monkeypatch.setattr(imageio, "get_writer" if suffix == ".mp4" else "mimsave", cut_short)
    with pytest.raises(KeyboardInterrupt):
        record_episode(load_policy(nav_artifact), path, seed=5000, max_steps=3)
    assert path.read_bytes() == b"the user's video"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([path.name, link.name])
    monkeypatch.setattr(imageio, "get_writer" if suffix == ".mp4" else "mimsave", real_writer)
    path.chmod(0o600)
    v = record_episode(load_policy(nav_artifact), link, seed=5000, max_steps=3)
    assert v["frames"] == 4 and link.is_symlink() and path.stat().st_size > 1000
    assert path.stat().st_mode & 0o777 == 0o600  # the mode of the file replaced (a review)
    bare = tmp_path / "target_without_suffix"  # the format comes from the name given
    bare.write_bytes(b"old")
    other = tmp_path / f"other{suffix}"
    other.symlink_to(bare.name)
    record_episode(load_policy(nav_artifact), other, seed=5000, max_steps=3)
    assert bare.stat().st_size > 1000 and other.is_symlink()


def test_a_video_in_a_folder_that_is_a_file_says_so(tmp_path):
    from neuroq.agents.video import check_video_path

    (tmp_path / "afile").write_text("")
    with pytest.raises(NeuroqError, match="afile is not a folder"):
        check_video_path(tmp_path / "afile" / "v.gif")


def test_an_mp4_is_padded_to_whole_macroblocks_not_stretched(tmp_path, caplog, capfd):
    """CartPole renders 600x400: imageio stretched it to 608x400 with a warning (an
    outsider). The frames are padded with their edge pixels instead, without a warning."""
    pytest.importorskip("imageio_ffmpeg")
    pytest.importorskip("pygame")
    from neuroq.agents.video import MP4_BLOCK_PX, padded_to_block

    frame = np.arange(5 * 7 * 3, dtype=np.uint8).reshape(5, 7, 3)
    out = padded_to_block(frame, 4)
    assert out.shape == (8, 8, 3) and np.array_equal(out[:5, :7], frame)
    assert np.array_equal(out[7, :7], frame[4]) and np.array_equal(out[:5, 7], frame[:, 6])
    assert padded_to_block(out, 4) is out  # whole blocks already: the frame itself

    path = tmp_path / "cartpole.mp4"
    with caplog.at_level("WARNING"):
        v = record_episode(load_policy(make_tiny_artifact(tmp_path / "cartpole")), path,
                           seed=3, max_steps=5)
    assert v["frames"] == 6
    said = caplog.text + capfd.readouterr().err
    assert "resizing" not in said and "macro_block_size" not in said, said
    first = imageio.mimread(path, memtest=False)[0]
    assert first.shape[:2] == (400, 608) and 608 % MP4_BLOCK_PX == 0
    # the padding repeats the rendering's right-hand column (CartPole's is background)
    assert np.abs(first[:, 600:].astype(int) - first[:, 599:600].astype(int)).max() < 24


def test_an_mp4_cut_short_by_a_full_disk_is_said_and_leaves_the_users_file(
        nav_artifact, tmp_path, monkeypatch):
    """A recheck on a full tmpfs: ffmpeg said "Error closing file: No space left on device"
    on its stderr only, the cut file was renamed over the user's video and the command said
    "video x.mp4: ... 501 frames", exit 0. The frames written are read back first. Also:
    a link into a missing folder was a traceback after the evaluation, and a killed run's
    temporary file stayed for good."""
    pytest.importorskip("imageio_ffmpeg")
    import imageio_ffmpeg

    from neuroq.agents.video import check_video_path

    path = tmp_path / "x.mp4"
    path.write_bytes(b"the user's video")
    stale = tmp_path / ".x.mp4.999999999.tmp.mp4"  # a killed run's (no such process)
    stale.write_bytes(b"part")
    monkeypatch.setattr(imageio_ffmpeg, "count_frames_and_secs", lambda p: (2, 0.4))
    with pytest.raises(NeuroqError, match=r"writing .*x.mp4 failed: 2 of 4 frames could be "
                                          r"read back; is the disk full\?"):
        record_episode(load_policy(nav_artifact), path, seed=5000, max_steps=3)
    assert path.read_bytes() == b"the user's video" and not stale.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.mp4"]
    dangling = tmp_path / "dangling.mp4"
    dangling.symlink_to(tmp_path / "missing" / "v.mp4")
    with pytest.raises(NeuroqError, match=r"missing does not exist \(where the link"):
        check_video_path(dangling)
