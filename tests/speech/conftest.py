import pytest


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """Fresh data and runs roots for one test (cached data sets and runs land in tmp_path)."""
    monkeypatch.setenv("MAL2_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("MAL2_RUNS", str(tmp_path / "runs"))
    monkeypatch.delenv("MAL2_RUN_NAME", raising=False)
    return tmp_path
