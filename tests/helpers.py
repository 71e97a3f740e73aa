"""Small helpers shared by tests (fixtures live in conftest.py)."""

from __future__ import annotations

from pathlib import Path

from bot.config import Settings


def make_settings(data_dir: Path, **overrides: str) -> Settings:
    """Settings as the environment would give them, on a private data folder."""
    env = {"PLANBOT_DATA_DIR": str(data_dir), "LOG_SALT": "test-salt", **overrides}
    return Settings.from_env(env)
