"""The README's two fresh-machine commands are the ones that work: CI runs the test command verbatim."""

from tests.factory import REPO


def test_ci_runs_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    command = "python3 -m pip install -e '.[test]' && python3 -m pytest -q"
    assert command in readme
    assert command in (REPO / ".ci" / "run").read_text()
    assert "python3 -m pip install . && etcd-perf analyze" in readme


def test_the_readme_python_example_runs(tmp_path, capsys):
    """The "From Python" example, run on the sample and the lab's before/after pair."""
    readme = (REPO / "README.md").read_text()
    code = readme.split("## From Python", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    pair = REPO / "tests" / "data" / "lab-3.5.16-before-after"
    code = (
        code.replace('"must-gather.tar.gz"', repr(str(REPO / "bundles" / "sample")))
        .replace('"out/"', repr(str(tmp_path / "out")))
        .replace('"before.tar.gz"', repr(str(pair / "before.tar.gz")))
        .replace('"after.tar.gz"', repr(str(pair / "after.tar.gz")))
    )
    exec(compile(code, "README.md", "exec"), {})
    printed = capsys.readouterr().out
    assert "regressed Regressed: master-0 disk" in printed
    assert (tmp_path / "out" / "performance_report.html").is_file()
