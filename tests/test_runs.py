"""Run folders: where each stage writes (neuroq.agents.runs)."""

import pytest

from neuroq.agents.runs import env_folder, make_run_dir
from neuroq.deploy.errors import NeuroqError


@pytest.mark.parametrize("env_id, folder", [
    ("CartPole-v1", "CartPole-v1"),
    ("neuroq/DVSPanTracking-v0", "neuroq/DVSPanTracking-v0"),
    ("my_pkg:GridWorld-v0", "my_pkg/GridWorld-v0"),
    ("my_pkg.envs:GridWorld", "my_pkg.envs/GridWorld"),
    ('a|b?c"d', "a_b_c_d"),
])
def test_env_folder_reads_a_colon_as_a_folder_level(env_id, folder):
    assert env_folder(env_id).as_posix() == folder


@pytest.mark.parametrize("env_id", ["", "/etc", "../up", "a//b", ":x", "a/./b", "x:"])
def test_an_env_id_that_names_no_folder_below_the_output_is_refused(env_id):
    with pytest.raises(NeuroqError, match="cannot name a run folder"):
        env_folder(env_id)


def test_run_folders_of_a_module_env_have_no_colon(tmp_path):
    a = make_run_dir(tmp_path, "my_pkg.envs:GridWorld", "train", "seed0")
    b = make_run_dir(tmp_path, "my_pkg.envs:GridWorld", "train", "seed0")  # same second
    assert a.parent == b.parent == tmp_path / "my_pkg.envs" / "GridWorld" and a != b
    assert a.name.startswith("train-seed0-") and ":" not in str(a.relative_to(tmp_path))
