"""The prompt template a model was trained with, which belongs to the model, not to the app.

The seed model and every model `arxiv-tui finetune` writes were trained on `arXiv Abstract: ...`;
a base model (Qwen, Llama, SmolLM, GPT-2) was not, and gets the writer's text as it is. A model
directory says its template in `arxiv-tui.json`, which `finetune` writes; the published seed
model predates that file and is known by its Hub id.
"""

from __future__ import annotations

import json
from pathlib import Path

from arxiv_tui import atomic
from arxiv_tui.runtime.settings import DEFAULT_MODEL, DEFAULT_TEMPLATE

TEMPLATE_FILE = "arxiv-tui.json"
_SEED_CACHE_FOLDER = "models--" + DEFAULT_MODEL.replace("/", "--")  # huggingface_hub's cache layout


def model_template(directory: Path) -> str:
    """The template `directory`'s model was trained with ("" for none)."""
    try:
        data = json.loads((directory / TEMPLATE_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return DEFAULT_TEMPLATE if _SEED_CACHE_FOLDER in directory.resolve().parts else ""
    except (OSError, UnicodeDecodeError, ValueError):
        return ""
    template = data.get("template") if isinstance(data, dict) else None
    return template if isinstance(template, str) else ""


def write_template(directory: Path, template: str) -> None:
    """Record in `directory` that its model was trained with `template`."""
    atomic.write_text(directory / TEMPLATE_FILE, json.dumps({"template": template}) + "\n")
