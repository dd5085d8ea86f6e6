"""The robot-side spiking modules load neither torch nor rclpy (nor pickle-based loaders)."""

import subprocess
import sys


def test_encoders_and_artifact_import_no_torch():
    code = ("import sys, neuroq.deploy.encoders, neuroq.deploy.artifact, neuroq.deploy.network; "
            "bad = [m for m in ('torch', 'rclpy', 'stable_baselines3') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
