"""space/ is deployable as it is: Space front matter, a requirements.txt that pins what the project pins,
no absolute paths; the [space] extra cannot move the project's pins (constraints.txt pins pillow for gradio)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SPACE = ROOT / "space"


def _pins(lines: list[str]) -> dict[str, str]:
    out = {}
    for line in lines:
        m = re.match(r"^([A-Za-z0-9_.-]+)(\[[^\]]*\])?==([^\s;#]+)", line.strip())
        if m:
            out[m.group(1).lower().replace("_", "-")] = m.group(3)
    return out


def test_space_requirements_pin_what_constraints_pin():
    req = (SPACE / "requirements.txt").read_text().splitlines()
    constraints = _pins((ROOT / "constraints.txt").read_text().splitlines())
    pins = _pins(req)
    for name in ("torch", "torchvision", "pillow", "gradio"):
        assert pins.get(name) == constraints.get(name), name
    assert re.search(r"^hf-quicktune\[[^\]]*space[^\]]*\]", "\n".join(req), flags=re.M), "installs hf-quicktune[space]"


def test_space_extra_and_dev_bring_gradio_and_the_browser_test_tools():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    assert any(d.startswith("gradio") for d in extras["space"])
    assert {"gradio[oauth]", "playwright"} <= set(extras["dev"])
    # pillow: gradio requires pillow<13, so the project pins a pillow gradio accepts (nothing gets downgraded)
    assert "pillow" in _pins((ROOT / "constraints.txt").read_text().splitlines())


def test_space_readme_has_the_front_matter_a_gradio_space_needs():
    import yaml

    text = (SPACE / "README.md").read_text()
    meta = yaml.safe_load(text.split("---")[1])
    assert meta["sdk"] == "gradio" and meta["app_file"] == "app.py" and (SPACE / meta["app_file"]).is_file()
    assert str(meta["sdk_version"]) == _pins((ROOT / "constraints.txt").read_text().splitlines())["gradio"]
    assert meta["hf_oauth"] is True and "manage-repos" in meta["hf_oauth_scopes"]  # push: create the repo


def test_no_absolute_paths_in_the_space():
    files = [p for p in SPACE.rglob("*") if p.is_file() and p.suffix in (".py", ".md", ".txt")]
    assert any(p.name == "app.py" for p in files)
    pattern = re.compile(r"""["'`(\s](/(?:work|tmp|home|root|usr|opt|mnt|var)/|[A-Za-z]:\\)""")
    hits = [(p.name, m.group(0)) for p in files for m in pattern.finditer(p.read_text())]
    assert not hits, hits


def test_the_app_module_imports_without_gradio_side_effects():
    """space/app.py stays importable as a module (its predict() serves an export without building the UI)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("space_app_pkg_test", SPACE / "app.py")
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)
    assert callable(app.predict) and callable(app.build_app)
