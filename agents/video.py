"""One episode of a deployed policy as an animated GIF or MP4 (`neuroq eval --video`).

Any environment that renders `rgb_array` works: the episode is played with
`render_mode="rgb_array"` (the same reset seed as episode 0 of an evaluation with that
seed), one frame after the reset and one after every step, and written with imageio (the
`video` extra): `.gif` through Pillow, `.mp4` through imageio-ffmpeg (H.264). The frame
rate is the environment's `render_fps` (real time), unless given. An MP4's frames are
padded at the right and bottom edges (their edge pixels repeated) to a multiple of
MP4_BLOCK_PX a side, which H.264 players expect: imageio would otherwise stretch them to it
with a warning (CartPole's 600x400 became 608x400, an outsider).
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from neuroq.agents.runs import written_beside
from neuroq.deploy.errors import NeuroqError

VIDEO_SUFFIXES = (".gif", ".mp4")
#: Frame rate when the environment declares none, frames per second.
DEFAULT_FPS = 30
#: Frames kept at most (a GIF of more gets large; the episode still runs to its end).
MAX_FRAMES = 3000
#: An MP4's width and height are padded to a multiple of this, in pixels: the H.264
#: macroblock (16x16 luma samples; ITU-T H.264, 6.3), imageio-ffmpeg's default
#: `macro_block_size`, which it otherwise reaches by resizing.
MP4_BLOCK_PX = 16
#: environment variable naming SDL's display driver (pygame draws Gymnasium's frames)
SDL_VIDEO_DRIVER_ENV = "SDL_VIDEODRIVER"


def check_video_path(path: str | os.PathLike) -> Path:
    """The path, if it ends in .gif or .mp4 and its folder exists (NeuroqError if not)."""
    if not str(path).strip():
        raise NeuroqError("--video: an empty path")
    p = Path(path)
    if p.suffix.lower() not in VIDEO_SUFFIXES:
        raise NeuroqError(f"--video must end in {' or '.join(VIDEO_SUFFIXES)}, got {p.name!r}")
    # a link is written through: its target's folder is the one that must exist (a link
    # into a missing folder was a FileNotFoundError traceback after the evaluation)
    parent = (p.resolve() if p.is_symlink() else p).parent.resolve()
    if parent.exists() and not parent.is_dir():  # was "folder afile does not exist"
        raise NeuroqError(f"--video: {p.parent} is not a folder")
    if not parent.is_dir():
        raise NeuroqError(f"--video: folder {parent if p.is_symlink() else p.parent} does "
                          "not exist" + (f" (where the link {p} points)" if p.is_symlink()
                                         else ""))
    if p.is_dir():  # ffmpeg failed on it after the whole evaluation
        raise NeuroqError(f"--video: {p} is a folder; name a file to write")
    # writable? (/proc/x.gif failed in imageio, a traceback after the evaluation); the
    # user's path is not touched: its folder is tried with a file of our own
    if p.exists() and not p.is_file():
        raise NeuroqError(f"--video: {p} is not a regular file")
    if p.exists() and not os.access(p, os.W_OK):
        raise NeuroqError(f"--video: cannot write {p}: permission denied")
    try:
        with tempfile.TemporaryFile(dir=p.parent.resolve()):
            pass
    except OSError as exc:
        raise NeuroqError(f"--video: cannot write in {p.parent}: "
                          f"{exc.strerror or exc}") from None
    return p


def _check_writer(path: Path) -> None:
    """imageio for any video, imageio-ffmpeg for .mp4 (both in the video extra): an MP4 asked
    of imageio without it failed with a traceback after the whole evaluation."""
    try:
        import imageio.v2  # noqa: F401, PLC0415
    except ImportError:
        raise NeuroqError('--video needs the \'video\' extra (imageio is not installed): '
                          'in the neuroq clone: pip install ".[video]"') from None
    if path.suffix.lower() == ".mp4":
        try:
            import imageio_ffmpeg  # noqa: F401, PLC0415
        except ImportError:
            raise NeuroqError("--video .mp4 needs imageio-ffmpeg (in the video extra): in the "
                              'neuroq clone: pip install ".[video]"; a .gif needs imageio '
                              "only") from None


@contextmanager
def _rendering(env_id: str) -> Iterator[Any]:
    """`env_id` made with render_mode rgb_array (NeuroqError if it has no such mode), frames
    drawn off screen: SDL's dummy display driver (unless the user chose one) spares the
    "XDG_RUNTIME_DIR is invalid" line SDL prints on a machine with no session; set while
    the env lives (pygame reads it when it starts), removed after."""
    from neuroq.deploy.rollout import make_env

    chosen = os.environ.get(SDL_VIDEO_DRIVER_ENV)
    os.environ.setdefault(SDL_VIDEO_DRIVER_ENV, "dummy")
    env = None
    try:
        with warnings.catch_warnings():  # gymnasium's own, coloured, before the line below
            # says the same (an outsider)
            warnings.filterwarnings("ignore", message=".*render_mode.*", category=UserWarning)
            env = make_env(env_id, render_mode="rgb_array")
        modes = env.metadata.get("render_modes", [])
        if "rgb_array" not in modes:
            raise NeuroqError(f"{env_id} does not render rgb_array (render modes: "
                              f"{', '.join(modes) or 'none'}); no video")
        yield env
    finally:
        if env is not None:
            env.close()
        if chosen is None:
            os.environ.pop(SDL_VIDEO_DRIVER_ENV, None)


def _first_frame(env: Any, env_id: str, seed: int) -> tuple[Any, dict, np.ndarray]:
    """(observation, info, frame) after reset(seed): NeuroqError where the env cannot draw
    (Gymnasium's classic-control envs need pygame, which the video extra does not hold)."""
    import gymnasium as gym

    obs, info = env.reset(seed=int(seed))
    try:
        return obs, info, np.asarray(env.render())
    except gym.error.DependencyNotInstalled as exc:
        raise NeuroqError(f"{env_id} cannot render: {str(exc).splitlines()[0]}") from None


def check_video(path: str | os.PathLike, env_id: str) -> Path:
    """Everything `--video` needs, before any episode: the path (`check_video_path`), the
    writer for its format, and one frame of `env_id` (an outsider's `neuroq eval cartpole
    --video ep.mp4` ran the whole evaluation, then failed for want of pygame)."""
    p = check_video_path(path)
    _check_writer(p)
    with _rendering(env_id) as env:
        _first_frame(env, env_id, 0)
    return p


def padded_to_block(frame: np.ndarray, block: int) -> np.ndarray:
    """`frame` (height, width[, channels]) with its last row and column repeated until
    height and width are multiples of `block`; the frame itself where they are."""
    h, w = frame.shape[:2]
    if h % block == 0 and w % block == 0:
        return frame
    pad = ((0, -h % block), (0, -w % block)) + ((0, 0),) * (frame.ndim - 2)
    return np.pad(frame, pad, mode="edge")


def _check_mp4(tmp: Path, frames: int, path: Path) -> None:
    """NeuroqError unless the MP4 just written holds its `frames`: ffmpeg reports a full
    disk at close on its stderr only, and the cut file was renamed over the user's good
    video with "video x.mp4: ... 501 frames", exit 0 (a recheck)."""
    import imageio_ffmpeg

    try:
        found = imageio_ffmpeg.count_frames_and_secs(str(tmp))[0]
    except (RuntimeError, OSError):  # ffmpeg cannot read it at all
        found = 0
    if found != frames:
        raise NeuroqError(f"--video: writing {path} failed: {found} of {frames} frames "
                          "could be read back; is the disk full? The file was left as it "
                          "was")


def record_episode(policy: Any, path: str | os.PathLike, seed: int = 0,
                   max_steps: int | None = None, fps: float | None = None) -> dict[str, Any]:
    """Play one episode of `policy` (a neuroq.deploy.policy.SpikingPolicy) seeded `seed`,
    rendered, and write it to `path`; returns frames, steps, return, fps and the episode's
    outcome (its last info's OUTCOME_KEYS, where the environment reports them)."""
    from neuroq.deploy.rollout import OUTCOME_KEYS

    path = check_video_path(path)
    _check_writer(path)
    import imageio.v2 as imageio  # (checked just above)
    env_id = policy.manifest["env_id"]
    with _rendering(env_id) as env:
        rate = float(fps or env.metadata.get("render_fps") or DEFAULT_FPS)
        total, steps = 0.0, 0
        obs, info, frame = _first_frame(env, env_id, seed)
        frames: list[np.ndarray] = [frame]
        while True:
            action = policy.run_step(np.asarray(obs, np.float32)[None], [info]).actions[0]
            obs, reward, terminated, truncated, info = env.step(int(action))
            total += float(reward)
            steps += 1
            if len(frames) < MAX_FRAMES:
                frames.append(np.asarray(env.render()))
            if terminated or truncated or (max_steps is not None and steps >= max_steps):
                break
    # written beside and renamed: a Ctrl-C, a kill or a full disk while writing left a
    # 48-byte stub or a cut video where the user's file had been (an outsider)
    target = path.resolve() if path.is_symlink() else path  # a link: written through it
    # the temporary file ends as the name given, which says the format (a link to a file
    # without one was a ValueError from imageio after the evaluation: a review)
    with written_beside(target, suffix=path.suffix) as tmp:
        if path.suffix.lower() == ".gif":
            # Pillow takes each frame's duration in milliseconds; loop 0: repeat forever
            imageio.mimsave(tmp, frames, duration=1000.0 / rate, loop=0)
        else:
            with imageio.get_writer(tmp, fps=rate, codec="libx264", quality=7) as writer:
                for frame in frames:
                    writer.append_data(padded_to_block(frame, MP4_BLOCK_PX))
            _check_mp4(tmp, len(frames), path)
    outcome = {k: info[k] for k in OUTCOME_KEYS if k in info}
    return {"path": str(path), "frames": len(frames), "steps": steps, "return": total,
            "fps": rate, "seed": int(seed), **outcome}
