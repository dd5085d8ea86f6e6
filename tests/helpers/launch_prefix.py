"""An install prefix for the source checkout, laid out as setup.py installs it.

`source_prefix(dest)` runs setup.py with `setuptools.setup` replaced by a recorder (in a
subprocess, with the install profile given) and lays out what it would install:

    <dest>/share/...            every data_files entry, as links to the source files
                                (the ament index marker, share/neuroq/{launch,config,
                                artifacts/<name>}, package.xml)
    <dest>/lib/neuroq/<exe>     every console script, a Python script that calls its entry
                                point with this interpreter (setup.cfg puts them there)

so the launch harness resolves FindPackageShare and node executables against it exactly as
against a colcon install (the colcon test checks the real one). Links, not copies: like
`colcon build --symlink-install`, the launch tests see the working tree.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.helpers import REPO_ROOT, python_script_header

PACKAGE = "neuroq"
_RECORD = (
    "import json, runpy, setuptools\n"
    "def setup(**kw):\n"
    "    print(json.dumps(kw, default=str))\n"
    "setuptools.setup = setup\n"
    "runpy.run_path('setup.py', run_name='__main__')\n"
)


def setup_keywords(profile: str = "robot", source: Path = REPO_ROOT) -> dict:
    """The keywords setup.py passes to setuptools.setup under `profile` (data_files,
    entry_points, install_requires, packages, ...)."""
    env = {**os.environ, "NEUROQ_INSTALL": profile}
    out = subprocess.run([sys.executable, "-c", _RECORD], cwd=source, env=env, check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def source_prefix(dest: Path, profile: str = "robot", source: Path = REPO_ROOT) -> Path:
    """Lay out `dest` as `profile`'s install of `source` (links to its files); return it."""
    args = setup_keywords(profile, source)
    for target, files in args["data_files"]:
        folder = dest / target
        folder.mkdir(parents=True, exist_ok=True)
        for f in files:  # install_data puts each file by its name into the target folder
            link = folder / Path(f).name
            if not link.exists():
                link.symlink_to(source / f)
    scripts = dest / "lib" / PACKAGE
    scripts.mkdir(parents=True, exist_ok=True)
    for line in args["entry_points"].get("console_scripts", []):
        name, _, target = (s.strip() for s in line.partition("="))
        module, _, func = target.partition(":")
        exe = scripts / name
        exe.write_text(f"{python_script_header()}import sys\nfrom {module} import {func}\n"
                       f"sys.exit({func}())\n")
        exe.chmod(0o755)
    return dest
