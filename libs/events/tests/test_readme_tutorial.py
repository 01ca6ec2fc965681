"""libs/events/README.md's tutorial runs as written: its code blocks, in order, then ``main``."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readme_tutorial_runs_from_event_to_rest(tmp_path: Path) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 6, "the tutorial lost its steps"
    namespace: dict[str, Any] = {"__name__": "avrr_tutorial"}
    exec(compile("\n".join(blocks), str(README), "exec"), namespace)
    asyncio.run(namespace["main"](f"sqlite+aiosqlite:///{tmp_path}/tutorial.db"))
