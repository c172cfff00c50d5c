"""Plain helpers the tasks use: packaged because ``myapp.tasks`` imports them."""

from __future__ import annotations

import re
from collections import Counter

WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")


def words(text: str) -> list[str]:
    return [w.lower() for w in WORD.findall(text)]


def top_words(text: str, n: int) -> list[tuple[str, int]]:
    return Counter(words(text)).most_common(n)
