"""Minimal setup.py for colcon's ament_python build; metadata lives in pyproject.toml."""

from glob import glob

from setuptools import setup

setup(
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/neuroq"]),
        ("share/neuroq", ["package.xml"]),
        ("share/neuroq/launch", glob("launch/*.launch.py")),
        ("share/neuroq/config", glob("config/*.yaml")),
        # the artifacts the launch files load by default (cartpole_*, acrobot_sim)
        ("share/neuroq/artifacts/cartpole", glob("config/artifacts/cartpole/*")),
        ("share/neuroq/artifacts/acrobot", glob("config/artifacts/acrobot/*")),
    ],
)
