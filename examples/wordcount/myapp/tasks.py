"""The example's tasks. Named in TASK_MODULES (locally) and in deploy/tasks.json (deployed),
they become kinds the jobs API accepts once a worker has started with them."""

from __future__ import annotations

from functions.core.tasks import TaskContext, registry
from myapp.text import top_words, words


@registry.task(
    "word_count",
    time_limit_s=30,
    payload_schema={
        "type": "object",
        "properties": {
            "text": {"type": "string", "maxLength": 100_000, "title": "Text"},
            "top": {"type": "integer", "minimum": 1, "maximum": 50, "default": 3},
        },
        "required": ["text"],
        "additionalProperties": False,
    },
)
def word_count(ctx: TaskContext) -> dict[str, object]:
    """Counts the words of a text and names the most frequent."""
    text = str(ctx.payload["text"])
    top = int(ctx.payload.get("top", 3))
    ctx.progress(1, 1, "counted")
    return {"words": len(words(text)), "top": [[w, n] for w, n in top_words(text, top)]}
