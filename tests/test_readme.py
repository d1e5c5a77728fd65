"""The README's two fresh-machine commands are the ones that work: CI runs the test command verbatim."""

from tests.factory import REPO


def test_ci_runs_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    command = "python3 -m pip install -e '.[test]' && python3 -m pytest -q"
    assert command in readme
    assert command in (REPO / ".ci" / "run").read_text()
    assert "python3 -m pip install . && etcd-perf analyze" in readme
