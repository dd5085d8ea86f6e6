"""The CartPole artifact the package ships still loads without torch and reaches its return."""

import json
from pathlib import Path

from deploy.evaluate import evaluate
from deploy.policy import load_policy

ARTIFACT = Path(__file__).resolve().parent.parent / "config" / "artifacts" / "cartpole"
#: The issue's bar for the 8-bit network: >= 99 % of the float DQN's mean return.
FRACTION_OF_FLOAT = 0.99


def test_shipped_artifact_reaches_its_return_on_the_emulator():
    manifest = json.loads((ARTIFACT / "manifest.json").read_text())
    assert manifest["env_id"] == "CartPole-v1"
    policy = load_policy(ARTIFACT, backend="emulator")
    result = evaluate(policy, episodes=20, seed=0)
    assert result["return_mean"] >= FRACTION_OF_FLOAT * manifest["ann_mean_return"]
    assert manifest["timesteps"] <= 8


def test_setup_py_installs_the_shipped_artifact():
    setup = (ARTIFACT.parents[2] / "setup.py").read_text()
    assert "share/neuroq/artifacts/cartpole" in setup
