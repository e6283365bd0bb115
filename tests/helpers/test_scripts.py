"""load_script imports a file as a module without running its __main__ block."""

import pytest

from tests.helpers.scripts import load_script


def test_load_script_runs_module_level_code_but_not_main(tmp_path):
    path = tmp_path / "tool.py"
    path.write_text("X = 41 + 1\nif __name__ == '__main__':\n    raise SystemExit('ran main')\n")
    module = load_script(path)
    assert module.X == 42 and module.__name__ == "tool"
    assert load_script(path, name="other").__name__ == "other"
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_script(tmp_path / "missing.py")
