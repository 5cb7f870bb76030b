"""The import contracts of pyproject.toml [tool.importlinter] (docs/ARCHITECTURE.md, "Layers"):
`lint-imports` passes on the repository, and each contract breaks on a planted violation."""

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("orchestration", "assets", "quality", "transforms", "models")


def _lint(root: Path) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).parent / "lint-imports"
    assert exe.exists(), "import-linter is a dev dependency: pip install -e '.[dev]'"
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([str(exe), "--no-cache"], cwd=root, env=env, capture_output=True, text=True, timeout=300)


def _contracts() -> dict[str, dict]:
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    return {c["id"]: c for c in cfg["contracts"]}


def test_lint_imports_passes_on_the_repository():
    r = _lint(ROOT)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert "0 broken" in r.stdout
    for c in _contracts().values():
        assert f"{c['name']} KEPT" in r.stdout


def test_simulator_contract_covers_every_models_package():
    """A forbidden contract does not look inside its own source package, so the contract lists
    the packages of models one by one: a new one must be added there."""
    listed = set(_contracts()["simulator-only-in-simulate"]["source_modules"])
    found = {f"models.{p.name}" for p in (ROOT / "models").iterdir()
             if (p / "__init__.py").exists() and p.name != "simulator"}
    assert found and found <= listed, f"add {sorted(found - listed)} to the contract's source_modules"


def test_each_contract_breaks_on_a_planted_violation(tmp_path):
    for pkg in PACKAGES:
        shutil.copytree(ROOT / pkg, tmp_path / pkg, ignore=shutil.ignore_patterns("*.npz", "*.pt", "__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    planted = {"quality/_planted.py": "from assets import ml\n",                   # quality above assets
               "transforms/_planted.py": "import dagster\n",                        # Dagster in transforms
               "models/waste/_planted.py": "from models.simulator import waste\n",  # production -> simulator
               "models/routing/_planted.py": "import pyvrp\n",                    # production -> PyVRP
               "models/trees/_planted_a.py": "from models.trees import _planted_b\n",  # a cycle in models
               "models/trees/_planted_b.py": "from models.trees import _planted_a\n"}
    for rel, line in planted.items():
        (tmp_path / rel).write_text(line)
    r = _lint(tmp_path)
    assert r.returncode != 0
    c = _contracts()
    assert f"{c['layers']['name']} BROKEN" in r.stdout and "quality._planted -> assets.ml" in r.stdout
    assert f"{c['no-dagster-below-assets']['name']} BROKEN" in r.stdout and "transforms._planted -> dagster" in r.stdout
    assert f"{c['simulator-only-in-simulate']['name']} BROKEN" in r.stdout
    assert "models.waste._planted -> models.simulator" in r.stdout
    assert f"{c['pyvrp-bench-only']['name']} BROKEN" in r.stdout and "models.routing._planted -> pyvrp" in r.stdout
    assert f"{c['models-acyclic']['name']} BROKEN" in r.stdout and "No cycles are allowed in models.trees" in r.stdout
    assert "5 broken" in r.stdout
    # the same copy without the planted files is clean again: the violations were what broke it
    for rel in planted:
        (tmp_path / rel).unlink()
    assert _lint(tmp_path).returncode == 0
